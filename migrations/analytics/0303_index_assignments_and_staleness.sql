-- release 3: indexes for assignment lookups by bundle version and for the stale-tables report
-- migrate:no-transaction
CREATE INDEX CONCURRENTLY IF NOT EXISTS policy_assignments_bundle_version_idx ON policy_assignments (bundle_version_id);

CREATE INDEX CONCURRENTLY IF NOT EXISTS managed_tables_last_modified_live_idx ON managed_tables (last_modified_at) WHERE dropped_at IS NULL AND freshness_sla IS NOT NULL;
