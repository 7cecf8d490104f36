-- release 3: soft-deprecate organisations.display_name, step 3: reads switch to name; stop syncing
--
-- From release 3 on, application code reads and writes organisations.name only.
-- Release 2 pods still write both columns, so the sync trigger is no longer needed.
-- display_name loses NOT NULL so that release 3 inserts (which omit it) succeed.
-- migrate:stops-using organisations.display_name

DROP TRIGGER organisations_sync_name ON organisations;

DROP FUNCTION organisations_sync_name();

ALTER TABLE organisations ALTER COLUMN display_name DROP NOT NULL;

-- Belt and braces: nothing should be NULL after the release 2 trigger + fill.
UPDATE organisations SET name = display_name WHERE name IS NULL;

-- Enforce for new writes now; existing rows are checked by the next migration.
ALTER TABLE organisations
    ADD CONSTRAINT organisations_name_not_null CHECK (name IS NOT NULL) NOT VALID;
