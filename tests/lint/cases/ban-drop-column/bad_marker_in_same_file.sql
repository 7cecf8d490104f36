-- migrate:stops-using users.legacy_flag
-- Marking the column unused and dropping it in one step gives the old pods no release to stop reading it.
ALTER TABLE users DROP COLUMN legacy_flag;
