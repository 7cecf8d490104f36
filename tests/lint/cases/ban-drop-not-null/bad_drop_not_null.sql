-- Pods of the previous release read workspace_id as always present.
ALTER TABLE automations ALTER COLUMN workspace_id DROP NOT NULL;
