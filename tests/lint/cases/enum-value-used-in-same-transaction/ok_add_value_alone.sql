-- migrate:no-transaction
-- Committed on its own: the next migration may use the value.
ALTER TYPE workflow_run_status ADD VALUE IF NOT EXISTS 'cancelling' BEFORE 'cancelled';
