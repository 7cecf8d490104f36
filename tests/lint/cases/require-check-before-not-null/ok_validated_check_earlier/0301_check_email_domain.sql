-- Enforced for new writes at once; existing rows are checked by the next migration.
ALTER TABLE users
    ADD CONSTRAINT users_email_domain_not_null CHECK (email_domain IS NOT NULL) NOT VALID;
