-- Builds the unique index under ACCESS EXCLUSIVE: reads and writes wait for the whole build.
ALTER TABLE users ADD CONSTRAINT users_email_key UNIQUE (email);
