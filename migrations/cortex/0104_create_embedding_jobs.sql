-- release 1: embedding jobs (batch vectorisation of knowledge-base documents and other sources)

CREATE TABLE embedding_jobs (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    workspace_id    uuid NOT NULL,
    model_id        uuid NOT NULL REFERENCES models (id) ON DELETE RESTRICT,
    source_kind     text NOT NULL CHECK (source_kind IN ('knowledge_base', 'managed_table', 'ontology_objects')),
    source_ref      text NOT NULL,
    status          job_status NOT NULL DEFAULT 'pending',
    total_items     integer CHECK (total_items >= 0),
    processed_items integer NOT NULL DEFAULT 0 CHECK (processed_items >= 0),
    error           text,
    requested_by    uuid,
    created_at      timestamptz NOT NULL DEFAULT now(),
    started_at      timestamptz,
    finished_at     timestamptz,
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT embedding_jobs_progress_check CHECK (total_items IS NULL OR processed_items <= total_items)
);

-- Workers poll for unfinished jobs in creation order.
CREATE INDEX embedding_jobs_queue_idx ON embedding_jobs (created_at) WHERE status IN ('pending', 'running');
CREATE INDEX embedding_jobs_source_idx ON embedding_jobs (source_kind, source_ref);

CREATE TRIGGER embedding_jobs_set_updated_at
    BEFORE UPDATE ON embedding_jobs
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();
