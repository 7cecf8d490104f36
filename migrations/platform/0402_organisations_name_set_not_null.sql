-- release 4: promote the validated CHECK on organisations.name to a real NOT NULL
-- SET NOT NULL skips the table scan because organisations_name_not_null is already validated.

ALTER TABLE organisations ALTER COLUMN name SET NOT NULL;

ALTER TABLE organisations DROP CONSTRAINT organisations_name_not_null;

COMMENT ON COLUMN organisations.name IS 'Human-readable organisation name shown in the UI (replaced display_name in release 2).';
