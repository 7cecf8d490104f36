ALTER TYPE workflow_run_status ADD VALUE IF NOT EXISTS 'cancelling' AFTER 'running';
