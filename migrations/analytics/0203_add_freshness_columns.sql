-- release 2: freshness tracking on managed tables and a median on column profiles

ALTER TABLE managed_tables ADD COLUMN last_modified_at timestamptz NULL;
ALTER TABLE managed_tables ADD COLUMN freshness_sla interval NULL;
ALTER TABLE column_profiles ADD COLUMN median double precision NULL;

-- migrate:allow constraint-missing-not-valid reason="managed_tables holds one row per catalogued table (thousands at most): the scan takes milliseconds"
ALTER TABLE managed_tables
    ADD CONSTRAINT managed_tables_freshness_sla_positive CHECK (freshness_sla IS NULL OR freshness_sla > interval '0');

COMMENT ON COLUMN managed_tables.freshness_sla IS 'Maximum acceptable age of last_modified_at before the table is reported stale.';
