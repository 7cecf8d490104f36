ALTER TABLE users ADD COLUMN email_domain text NULL;

-- One transaction locking every row of users until the migration commits.
UPDATE users SET email_domain = lower(split_part(email, '@', 2));
