-- The ADD takes SHARE ROW EXCLUSIVE; in one transaction it is still held while VALIDATE scans the table.
ALTER TABLE workflow_runs
    ADD CONSTRAINT workflow_runs_automation_id_fkey
    FOREIGN KEY (automation_id) REFERENCES automations (id) NOT VALID;

ALTER TABLE workflow_runs VALIDATE CONSTRAINT workflow_runs_automation_id_fkey;
