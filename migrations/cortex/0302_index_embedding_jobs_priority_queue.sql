-- release 3: priority-ordered queue index for embedding workers
-- migrate:no-transaction
CREATE INDEX CONCURRENTLY IF NOT EXISTS embedding_jobs_priority_queue_idx ON embedding_jobs ((coalesce(priority, 0)) DESC, created_at) WHERE status = 'pending';
