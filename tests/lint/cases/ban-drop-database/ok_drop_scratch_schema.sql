-- A scratch schema for a one-off import, created and dropped inside this service's own database.
CREATE SCHEMA import_scratch;

CREATE TABLE import_scratch.users_csv (id bigint, email text);

INSERT INTO users (email)
SELECT s.email FROM import_scratch.users_csv AS s
 WHERE NOT EXISTS (SELECT 1 FROM users AS u WHERE u.email = s.email);

DROP SCHEMA import_scratch CASCADE;
