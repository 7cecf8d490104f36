-- A BEGIN ... COMMIT pair around the whole file is tolerated (and dropped): the runner opens its own.
BEGIN;

ALTER TABLE users ADD COLUMN locale text NULL;

COMMENT ON COLUMN users.locale IS 'BCP 47 language tag chosen by the user';

COMMIT;
