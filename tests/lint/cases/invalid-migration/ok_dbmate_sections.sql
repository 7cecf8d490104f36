-- migrate:up
ALTER TABLE users ADD COLUMN locale text NULL;

-- migrate:down
-- Ignored: migrations are forward-only.
ALTER TABLE users DROP COLUMN locale;
