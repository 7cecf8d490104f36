-- Pods of the previous release still SELECT legacy_flag during the rolling update.
ALTER TABLE users DROP COLUMN legacy_flag;
