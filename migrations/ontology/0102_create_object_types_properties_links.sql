-- release 1: ontology schema: object types, their properties and link types

CREATE TABLE object_types (
    id                   uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    workspace_id         uuid NOT NULL,
    api_name             api_name NOT NULL,
    display_name         text NOT NULL,
    plural_display_name  text,
    description          text,
    icon                 jsonb,
    primary_key_property api_name,
    title_property       api_name,
    status               text NOT NULL DEFAULT 'experimental' CHECK (status IN ('experimental', 'active', 'deprecated')),
    revision             bigint NOT NULL DEFAULT nextval('ontology_revision_seq'),
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT object_types_workspace_api_name_key UNIQUE (workspace_id, api_name)
);

CREATE TRIGGER object_types_set_updated_at
    BEFORE UPDATE ON object_types
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

CREATE TRIGGER object_types_bump_revision
    BEFORE UPDATE ON object_types
    FOR EACH ROW EXECUTE FUNCTION bump_ontology_revision();

CREATE TABLE object_type_properties (
    id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    object_type_id uuid NOT NULL REFERENCES object_types (id) ON DELETE CASCADE,
    api_name       api_name NOT NULL,
    display_name   text NOT NULL,
    data_type      property_data_type NOT NULL,
    is_array       boolean NOT NULL DEFAULT false,
    is_required    boolean NOT NULL DEFAULT false,
    description    text,
    config         jsonb NOT NULL DEFAULT '{}'::jsonb,
    revision       bigint NOT NULL DEFAULT nextval('ontology_revision_seq'),
    CONSTRAINT object_type_properties_type_api_name_key UNIQUE (object_type_id, api_name)
);

CREATE TRIGGER object_type_properties_bump_revision
    BEFORE UPDATE ON object_type_properties
    FOR EACH ROW EXECUTE FUNCTION bump_ontology_revision();

CREATE TABLE link_types (
    id                    uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    workspace_id          uuid NOT NULL,
    api_name              api_name NOT NULL,
    source_object_type_id uuid NOT NULL REFERENCES object_types (id) ON DELETE CASCADE,
    target_object_type_id uuid NOT NULL REFERENCES object_types (id) ON DELETE CASCADE,
    cardinality           link_cardinality NOT NULL,
    source_display_name   text NOT NULL,
    target_display_name   text NOT NULL,
    foreign_key_property  api_name,
    revision              bigint NOT NULL DEFAULT nextval('ontology_revision_seq'),
    created_at            timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT link_types_workspace_api_name_key UNIQUE (workspace_id, api_name),
    CONSTRAINT link_types_many_to_many_no_fk
        CHECK (cardinality <> 'many_to_many' OR foreign_key_property IS NULL)
);

CREATE INDEX link_types_source_idx ON link_types (source_object_type_id);
