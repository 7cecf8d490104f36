-- A gap-free sequence number for the audit export.
ALTER TABLE audit_events ADD COLUMN export_seq bigserial;
