-- release 3: validate the workflow_runs.automation_id foreign key added NOT VALID in release 2
ALTER TABLE workflow_runs VALIDATE CONSTRAINT workflow_runs_automation_id_fkey;
