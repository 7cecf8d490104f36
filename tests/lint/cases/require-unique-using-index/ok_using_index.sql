-- The unique index was built CONCURRENTLY by the previous (no-transaction) migration: attaching it is instant.
ALTER TABLE users ADD CONSTRAINT users_email_key UNIQUE USING INDEX users_email_key_idx;
