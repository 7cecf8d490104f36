-- SHARE UPDATE EXCLUSIVE only: reads and writes continue during the scan.
ALTER TABLE users VALIDATE CONSTRAINT users_email_domain_not_null;
