-- release 2: indexes for reverse link lookups, display-name search and datasource lookups, built concurrently
-- migrate:no-transaction
CREATE INDEX CONCURRENTLY IF NOT EXISTS link_types_target_idx ON link_types (target_object_type_id);

CREATE INDEX CONCURRENTLY IF NOT EXISTS object_types_display_name_lower_idx ON object_types (workspace_id, lower(display_name));

CREATE INDEX CONCURRENTLY IF NOT EXISTS object_type_bindings_datasource_idx ON object_type_bindings (datasource_kind, datasource_ref);
