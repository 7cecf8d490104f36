-- Release 2026.3: no pod of 2026.2 or later reads display_name any more.
ALTER TABLE organisations DROP COLUMN display_name;
