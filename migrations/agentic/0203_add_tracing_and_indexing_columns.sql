-- release 2: add trace ids to runs, parent runs for sub-workflows, and last index time to documents

ALTER TABLE workflow_runs ADD COLUMN trace_id text NULL;
ALTER TABLE workflow_runs ADD COLUMN parent_run_id uuid NULL;
ALTER TABLE knowledge_documents ADD COLUMN last_indexed_at timestamptz NULL;

COMMENT ON COLUMN workflow_runs.trace_id IS 'W3C trace id (32 hex chars) propagated to every step.';
