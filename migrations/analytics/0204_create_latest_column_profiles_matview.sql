-- release 2: materialized view of the most recent successful profile per column

CREATE MATERIALIZED VIEW latest_column_profiles AS
SELECT DISTINCT ON (cp.column_id)
       cp.column_id,
       tp.table_id,
       tp.id AS profile_id,
       tp.profiled_at,
       tp.row_count,
       cp.null_count,
       cp.distinct_count,
       cp.min_value,
       cp.max_value,
       cp.mean,
       cp.median
FROM column_profiles cp
JOIN table_profiles tp ON tp.id = cp.profile_id
WHERE tp.status = 'succeeded'
ORDER BY cp.column_id, tp.profiled_at DESC, tp.id DESC;

-- Required for REFRESH MATERIALIZED VIEW CONCURRENTLY, which the profiler runs after each profile.
CREATE UNIQUE INDEX latest_column_profiles_column_id_key ON latest_column_profiles (column_id);

CREATE INDEX latest_column_profiles_table_id_idx ON latest_column_profiles (table_id);
