-- release 2: add users.email_domain and fill it from users.email
--
-- Backfill placeholder: users is still small (one row per person), so a plain UPDATE in
-- the migration is fine today. Once tenants grow this becomes a background backfill job
-- (batched, resumable, reporting MIGRATION_BACKFILL_* audit events) and the UPDATE goes away.

ALTER TABLE users ADD COLUMN email_domain text NULL;

UPDATE users
SET email_domain = lower(split_part(email, '@', 2))
WHERE email_domain IS NULL;

COMMENT ON COLUMN users.email_domain IS 'Lower-cased domain part of email, used for SSO domain routing.';
