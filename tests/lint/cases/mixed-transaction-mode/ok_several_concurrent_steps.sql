-- migrate:no-transaction
-- Every statement is non-transactional: each one is journaled and resumed on its own.
CREATE INDEX CONCURRENTLY IF NOT EXISTS workflow_runs_status_idx ON workflow_runs (status);

CREATE INDEX CONCURRENTLY IF NOT EXISTS chat_messages_chat_id_created_at_idx
    ON chat_messages (chat_id, created_at);

DROP INDEX CONCURRENTLY IF EXISTS workflow_runs_status_old_idx;
