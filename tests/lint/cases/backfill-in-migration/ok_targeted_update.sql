-- A correction of the few rows the previous release got wrong, not a fill of the whole table.
UPDATE organisations SET name = display_name WHERE name IS NULL;
