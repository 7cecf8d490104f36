-- The next migration (release 3): validation takes SHARE UPDATE EXCLUSIVE, so reads and writes continue.
ALTER TABLE workflow_runs VALIDATE CONSTRAINT workflow_runs_automation_id_fkey;
