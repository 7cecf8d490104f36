-- release 1: table profiling runs and per-column statistics

CREATE TABLE table_profiles (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    table_id        uuid NOT NULL REFERENCES managed_tables (id) ON DELETE CASCADE,
    status          text NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'succeeded', 'failed')),
    sample_fraction numeric(5, 4) NOT NULL DEFAULT 1 CHECK (sample_fraction > 0 AND sample_fraction <= 1),
    row_count       bigint CHECK (row_count >= 0),
    error           text,
    started_at      timestamptz NOT NULL DEFAULT now(),
    profiled_at     timestamptz
);

CREATE INDEX table_profiles_table_recent_idx ON table_profiles (table_id, profiled_at DESC);

CREATE TABLE column_profiles (
    profile_id     bigint NOT NULL REFERENCES table_profiles (id) ON DELETE CASCADE,
    column_id      bigint NOT NULL REFERENCES managed_table_columns (id) ON DELETE CASCADE,
    null_count     bigint NOT NULL DEFAULT 0 CHECK (null_count >= 0),
    distinct_count bigint CHECK (distinct_count >= 0),
    min_value      text,
    max_value      text,
    mean           double precision,
    stddev         double precision,
    histogram      jsonb,
    top_values     jsonb,
    PRIMARY KEY (profile_id, column_id)
);

CREATE INDEX column_profiles_column_id_idx ON column_profiles (column_id);
