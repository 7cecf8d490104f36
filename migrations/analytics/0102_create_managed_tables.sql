-- release 1: managed-table catalogue: tables and their columns

CREATE TABLE managed_tables (
    id                 uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    workspace_id       uuid NOT NULL,
    qualified_name     qualified_name NOT NULL,
    format             table_format NOT NULL,
    storage_location   text NOT NULL,
    description        text,
    owner_user_id      uuid,
    row_count_estimate bigint CHECK (row_count_estimate >= 0),
    properties         jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    dropped_at         timestamptz
);

-- A name can be reused once the previous table with that name has been dropped.
CREATE UNIQUE INDEX managed_tables_workspace_name_live_key ON managed_tables (workspace_id, qualified_name)
    WHERE dropped_at IS NULL;

CREATE TRIGGER managed_tables_set_updated_at
    BEFORE UPDATE ON managed_tables
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

CREATE TABLE managed_table_columns (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    table_id    uuid NOT NULL REFERENCES managed_tables (id) ON DELETE CASCADE,
    ordinal     integer NOT NULL CHECK (ordinal > 0),
    name        text NOT NULL,
    data_type   text NOT NULL,
    is_nullable boolean NOT NULL DEFAULT true,
    description text,
    tags        text[] NOT NULL DEFAULT '{}',
    CONSTRAINT managed_table_columns_table_name_key UNIQUE (table_id, name),
    -- deferred so a schema sync can renumber columns inside one transaction
    CONSTRAINT managed_table_columns_table_ordinal_key UNIQUE (table_id, ordinal) DEFERRABLE INITIALLY DEFERRED
);

CREATE INDEX managed_table_columns_tags_idx ON managed_table_columns USING gin (tags);
