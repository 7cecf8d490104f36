-- release 3: allow disabling a single policy without republishing its bundle

ALTER TABLE policies ADD COLUMN disabled_at timestamptz NULL;
ALTER TABLE policies ADD COLUMN disabled_reason text NULL;
