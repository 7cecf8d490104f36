-- release 2: add the workflow_runs.automation_id foreign key as NOT VALID (new writes checked, no table scan)
--
-- workflow_runs is large; validating existing rows happens in release 3 under a
-- SHARE UPDATE EXCLUSIVE lock that does not block writes.

ALTER TABLE workflow_runs
    ADD CONSTRAINT workflow_runs_automation_id_fkey
    FOREIGN KEY (automation_id) REFERENCES automations (id) ON DELETE SET NULL
    NOT VALID;
