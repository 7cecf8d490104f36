-- release 1: enums, the qualified_name domain and the updated_at trigger function

CREATE TYPE table_format AS ENUM ('delta', 'iceberg', 'parquet', 'postgres_view');

CREATE TYPE policy_effect AS ENUM ('allow', 'deny', 'mask');

CREATE DOMAIN qualified_name AS text
    CHECK (VALUE ~ '^[a-z_][a-z0-9_]*(\.[a-z_][a-z0-9_]*){0,2}$' AND length(VALUE) <= 255);

COMMENT ON DOMAIN qualified_name IS 'Lower-case dotted name: table, schema.table or catalog.schema.table.';

CREATE FUNCTION set_updated_at() RETURNS trigger
    LANGUAGE plpgsql
AS $$
BEGIN
    NEW.updated_at := now();
    RETURN NEW;
END;
$$;
