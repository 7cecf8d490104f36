-- release 1: table- and column-level lineage, with a recursive downstream lookup

CREATE TABLE table_lineage_edges (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    upstream_table_id   uuid NOT NULL REFERENCES managed_tables (id) ON DELETE CASCADE,
    downstream_table_id uuid NOT NULL REFERENCES managed_tables (id) ON DELETE CASCADE,
    transformation      text,
    job_ref             text,
    observed_at         timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT table_lineage_edges_pair_key UNIQUE (upstream_table_id, downstream_table_id),
    CONSTRAINT table_lineage_edges_no_self_loop CHECK (upstream_table_id <> downstream_table_id)
);

CREATE INDEX table_lineage_edges_downstream_idx ON table_lineage_edges (downstream_table_id);

CREATE TABLE column_lineage_edges (
    upstream_column_id   bigint NOT NULL REFERENCES managed_table_columns (id) ON DELETE CASCADE,
    downstream_column_id bigint NOT NULL REFERENCES managed_table_columns (id) ON DELETE CASCADE,
    expression           text,
    PRIMARY KEY (upstream_column_id, downstream_column_id)
);

CREATE INDEX column_lineage_edges_downstream_idx ON column_lineage_edges (downstream_column_id);

CREATE FUNCTION downstream_tables(p_table_id uuid, p_max_depth integer DEFAULT 10)
    RETURNS TABLE (table_id uuid, depth integer)
    LANGUAGE sql
    STABLE
AS $$
    WITH RECURSIVE walk (table_id, depth) AS (
        SELECT e.downstream_table_id, 1
        FROM table_lineage_edges e
        WHERE e.upstream_table_id = p_table_id
        UNION
        SELECT e.downstream_table_id, w.depth + 1
        FROM walk w
        JOIN table_lineage_edges e ON e.upstream_table_id = w.table_id
        WHERE w.depth < p_max_depth
    )
    SELECT w.table_id, min(w.depth)
    FROM walk w
    GROUP BY w.table_id;
$$;
