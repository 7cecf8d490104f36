\set ON_ERROR_STOP on
ALTER TABLE users ADD COLUMN locale text NULL;
