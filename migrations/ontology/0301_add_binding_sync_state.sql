-- release 3: persist incremental sync cursors and the last sync error on bindings

ALTER TABLE object_type_bindings ADD COLUMN sync_cursor jsonb NULL;
ALTER TABLE object_type_bindings ADD COLUMN last_sync_error text NULL;
ALTER TABLE object_type_bindings ADD COLUMN last_sync_error_at timestamptz NULL;
