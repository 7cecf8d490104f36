-- NOT VALID: new rows are checked at once, existing rows by a later VALIDATE (SHARE UPDATE EXCLUSIVE only).
ALTER TABLE workflow_runs
    ADD CONSTRAINT workflow_runs_automation_id_fkey
    FOREIGN KEY (automation_id) REFERENCES automations (id) ON DELETE SET NULL NOT VALID;

ALTER TABLE inference_requests
    ADD CONSTRAINT inference_requests_cost_non_negative CHECK (cost_usd >= 0) NOT VALID;
