-- A later migration: VALIDATE alone takes SHARE UPDATE EXCLUSIVE, so writes continue during the scan.
ALTER TABLE workflow_runs VALIDATE CONSTRAINT workflow_runs_automation_id_fkey;
