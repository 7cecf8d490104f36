ALTER TABLE sessions ADD COLUMN revoked_at timestamp NULL;
