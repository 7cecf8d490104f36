-- The safe split: a nullable column, a default that applies to new rows only, and a backfill for the rest.
ALTER TABLE api_keys ADD COLUMN public_id uuid NULL;

ALTER TABLE api_keys ALTER COLUMN public_id SET DEFAULT gen_random_uuid();

-- migrate:backfill api_keys_public_id table=api_keys key=id
UPDATE api_keys SET public_id = gen_random_uuid()
 WHERE id BETWEEN $1 AND $2 AND public_id IS NULL;
