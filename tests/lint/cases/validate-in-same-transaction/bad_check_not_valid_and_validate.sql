ALTER TABLE users
    ADD CONSTRAINT users_email_domain_not_null CHECK (email_domain IS NOT NULL) NOT VALID;

ALTER TABLE users VALIDATE CONSTRAINT users_email_domain_not_null;
