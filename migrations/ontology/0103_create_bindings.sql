-- release 1: bindings between object types and the datasources that back them

CREATE TABLE object_type_bindings (
    id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    object_type_id    uuid NOT NULL REFERENCES object_types (id) ON DELETE CASCADE,
    datasource_kind   text NOT NULL CHECK (datasource_kind IN ('managed_table', 'postgres', 'rest_api', 'stream')),
    datasource_ref    text NOT NULL,
    property_mappings jsonb NOT NULL DEFAULT '{}'::jsonb,
    is_primary        boolean NOT NULL DEFAULT false,
    sync_mode         text NOT NULL DEFAULT 'incremental' CHECK (sync_mode IN ('full', 'incremental', 'live')),
    last_synced_at    timestamptz,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT object_type_bindings_mappings_is_object CHECK (jsonb_typeof(property_mappings) = 'object')
);

-- Exactly one binding per object type may be the primary (writeback) source.
CREATE UNIQUE INDEX object_type_bindings_one_primary ON object_type_bindings (object_type_id) WHERE is_primary;

CREATE INDEX object_type_bindings_mappings_idx ON object_type_bindings USING gin (property_mappings);

CREATE TRIGGER object_type_bindings_set_updated_at
    BEFORE UPDATE ON object_type_bindings
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

COMMENT ON COLUMN object_type_bindings.datasource_ref IS 'Datasource identifier, e.g. an analytics managed_tables id for datasource_kind = managed_table.';
