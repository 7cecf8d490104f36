ALTER TABLE automations ADD COLUMN owner_id bigint NULL;
