-- release 2: add the cancelling run status (cancellation requested, steps still draining)
-- migrate:no-transaction
ALTER TYPE workflow_run_status ADD VALUE IF NOT EXISTS 'cancelling' AFTER 'running';
