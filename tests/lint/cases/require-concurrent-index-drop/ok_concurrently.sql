-- migrate:no-transaction
DROP INDEX CONCURRENTLY IF EXISTS workflow_runs_status_old_idx;
