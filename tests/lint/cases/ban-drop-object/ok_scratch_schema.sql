-- A scratch schema for a one-off import, created and dropped in the same migration.
CREATE SCHEMA import_scratch;

CREATE TABLE import_scratch.plans_csv (code text, name text);

INSERT INTO plans (code, name) SELECT code, name FROM import_scratch.plans_csv ON CONFLICT DO NOTHING;

DROP SCHEMA import_scratch CASCADE;
