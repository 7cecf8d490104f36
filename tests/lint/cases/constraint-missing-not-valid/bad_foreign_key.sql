-- Validates every existing workflow_runs row while holding SHARE ROW EXCLUSIVE on both tables.
ALTER TABLE workflow_runs
    ADD CONSTRAINT workflow_runs_automation_id_fkey
    FOREIGN KEY (automation_id) REFERENCES automations (id) ON DELETE SET NULL;
