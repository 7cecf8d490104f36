ALTER TABLE users
    ADD CONSTRAINT users_email_domain_not_null CHECK (email_domain IS NOT NULL) NOT VALID;

ALTER TABLE users ALTER COLUMN email_domain SET NOT NULL;
