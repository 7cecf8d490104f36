-- Step 1 of 3: add it NULL and fill it in the background; a later migration adds the NOT NULL.
ALTER TABLE users ADD COLUMN email_domain text NULL;

-- migrate:backfill users_email_domain table=users key=id
UPDATE users SET email_domain = lower(split_part(email, '@', 2))
 WHERE id BETWEEN $1 AND $2 AND email_domain IS NULL;
