-- Scans all of users under ACCESS EXCLUSIVE to prove there is no NULL.
ALTER TABLE users ALTER COLUMN email_domain SET NOT NULL;
