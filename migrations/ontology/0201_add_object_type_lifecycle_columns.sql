-- release 2: deprecation metadata on object types and link types

ALTER TABLE object_types ADD COLUMN deprecated_at timestamptz NULL;
ALTER TABLE object_types ADD COLUMN replacement_object_type_id uuid NULL;
ALTER TABLE link_types ADD COLUMN deprecated_at timestamptz NULL;

-- migrate:allow constraint-missing-not-valid reason="object_types is ontology metadata (hundreds of rows): the scan takes milliseconds"
ALTER TABLE object_types
    ADD CONSTRAINT object_types_replacement_not_self CHECK (replacement_object_type_id IS DISTINCT FROM id);

COMMENT ON COLUMN object_types.replacement_object_type_id IS 'Object type that supersedes this one once deprecated; shown as a migration hint in the SDKs.';
