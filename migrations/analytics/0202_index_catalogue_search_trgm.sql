-- release 2: trigram indexes for catalogue search on table and column names, built concurrently
-- migrate:no-transaction
CREATE INDEX CONCURRENTLY IF NOT EXISTS managed_tables_qualified_name_trgm_idx ON managed_tables USING gin ((qualified_name::text) gin_trgm_ops);

CREATE INDEX CONCURRENTLY IF NOT EXISTS managed_table_columns_name_trgm_idx ON managed_table_columns USING gin (name gin_trgm_ops);
