-- release 4: soft-deprecate organisations.display_name, step 4: drop the old column
-- No release 3 or later code references display_name any more.
ALTER TABLE organisations DROP COLUMN display_name;
