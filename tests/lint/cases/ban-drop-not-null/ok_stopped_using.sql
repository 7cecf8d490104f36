-- Release 3 code writes name only; display_name is being retired.
-- migrate:stops-using organisations.display_name
ALTER TABLE organisations ALTER COLUMN display_name DROP NOT NULL;
