CREATE MATERIALIZED VIEW latest_column_profiles AS
    SELECT DISTINCT ON (table_id, column_name) table_id, column_name, profiled_at, stats
      FROM column_profiles
     ORDER BY table_id, column_name, profiled_at DESC
  WITH NO DATA;

CREATE UNIQUE INDEX latest_column_profiles_key ON latest_column_profiles (table_id, column_name);
