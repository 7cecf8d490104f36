-- Same release (2026.2) as the step that stopped using it: release 2026.1 pods still read it.
ALTER TABLE organisations DROP COLUMN display_name;
