-- release 2: add users.email_domain and fill it from users.email in the background
--
-- Release 2 of the platform writes email_domain for every new or changed user. Existing
-- rows are filled by a background backfill: `up` only registers it, and the backfill
-- worker runs it in batches keyed on users.id, audited as MIGRATION_BACKFILL_* events.
-- On a fresh install the table is empty and the backfill is complete at once.

ALTER TABLE users ADD COLUMN email_domain text NULL;

COMMENT ON COLUMN users.email_domain IS 'Lower-cased domain part of email, used for SSO domain routing.';

-- migrate:backfill users_email_domain table=users key=id
UPDATE users
SET email_domain = lower(split_part(email, '@', 2))
WHERE id BETWEEN $1 AND $2
  AND email_domain IS NULL;
