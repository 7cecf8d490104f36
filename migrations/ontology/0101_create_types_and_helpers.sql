-- release 1: property/link enums, the api_name domain, the ontology revision sequence and trigger functions

CREATE TYPE property_data_type AS ENUM (
    'string', 'integer', 'long', 'double', 'boolean', 'date', 'timestamp', 'geopoint', 'json', 'attachment'
);

CREATE TYPE link_cardinality AS ENUM ('one_to_one', 'one_to_many', 'many_to_many');

CREATE DOMAIN api_name AS text
    CHECK (VALUE ~ '^[A-Za-z][A-Za-z0-9_]{0,99}$');

COMMENT ON DOMAIN api_name IS 'Stable identifier used by the ontology API and SDKs; letters, digits and underscores, starting with a letter.';

-- Every schema change gets a new, globally ordered revision number (used by branches and SDK caches).
CREATE SEQUENCE ontology_revision_seq AS bigint START WITH 1 INCREMENT BY 1 NO CYCLE;

CREATE FUNCTION set_updated_at() RETURNS trigger
    LANGUAGE plpgsql
AS $$
BEGIN
    NEW.updated_at := now();
    RETURN NEW;
END;
$$;

CREATE FUNCTION bump_ontology_revision() RETURNS trigger
    LANGUAGE plpgsql
AS $$
BEGIN
    NEW.revision := nextval('ontology_revision_seq');
    RETURN NEW;
END;
$$;
