-- The value was committed by 0201.
UPDATE workflow_runs SET status = 'cancelling' WHERE status = 'running' AND cancel_requested_at IS NOT NULL;
