-- release 2: indexes for run lookups by automation/trace and chat full-text search, built concurrently
-- migrate:no-transaction
CREATE INDEX CONCURRENTLY IF NOT EXISTS workflow_runs_automation_id_idx ON workflow_runs (automation_id) WHERE automation_id IS NOT NULL;

CREATE INDEX CONCURRENTLY IF NOT EXISTS workflow_runs_trace_id_idx ON workflow_runs (trace_id) WHERE trace_id IS NOT NULL;

CREATE INDEX CONCURRENTLY IF NOT EXISTS workflow_runs_parent_run_id_idx ON workflow_runs (parent_run_id) WHERE parent_run_id IS NOT NULL;

CREATE INDEX CONCURRENTLY IF NOT EXISTS chat_messages_content_fts_idx ON chat_messages USING gin (to_tsvector('english'::regconfig, content));
