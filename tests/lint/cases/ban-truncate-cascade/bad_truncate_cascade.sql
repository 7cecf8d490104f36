-- Also empties every table with a foreign key to import_batches, and the ones referencing those.
TRUNCATE TABLE import_batches CASCADE;
