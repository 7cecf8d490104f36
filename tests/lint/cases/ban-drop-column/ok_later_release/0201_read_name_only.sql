-- From this release on the code reads organisations.name only.
-- migrate:stops-using organisations.display_name
ALTER TABLE organisations ALTER COLUMN display_name DROP NOT NULL;
