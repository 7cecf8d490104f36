ALTER TYPE workflow_run_status ADD VALUE 'cancelling' BEFORE 'cancelled';

-- ERROR: unsafe use of new value "cancelling" of enum type workflow_run_status
UPDATE workflow_runs SET status = 'cancelling' WHERE status = 'running' AND cancel_requested_at IS NOT NULL;
