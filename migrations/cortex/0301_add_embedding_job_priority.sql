-- release 3: job priority and cooperative cancellation for embedding jobs

ALTER TABLE embedding_jobs ADD COLUMN priority smallint NULL;
ALTER TABLE embedding_jobs ADD COLUMN cancel_requested_at timestamptz NULL;

COMMENT ON COLUMN embedding_jobs.priority IS 'Higher runs first; NULL is treated as normal priority (0).';
