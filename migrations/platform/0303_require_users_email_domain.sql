-- release 3: every user has an email domain from now on (needs the release-2 backfill done)
--
-- Only applied once the users_email_domain backfill has completed: `up` refuses it until
-- then, with a message saying so. NOT VALID: new rows are checked at once, no table scan.
-- migrate:requires-backfill users_email_domain

ALTER TABLE users
    ADD CONSTRAINT users_email_domain_present CHECK (email_domain IS NOT NULL) NOT VALID;
