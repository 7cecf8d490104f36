ALTER TABLE workflow_runs
    ADD CONSTRAINT workflow_runs_automation_id_fkey
    FOREIGN KEY (automation_id) REFERENCES automations (id) NOT VALID;
