-- migrate:no-transaction
-- Statement by statement: the ADD commits (and releases its lock) before VALIDATE starts.
ALTER TABLE workflow_runs
    ADD CONSTRAINT workflow_runs_automation_id_fkey
    FOREIGN KEY (automation_id) REFERENCES automations (id) NOT VALID;

ALTER TABLE workflow_runs VALIDATE CONSTRAINT workflow_runs_automation_id_fkey;
