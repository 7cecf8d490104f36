-- Release 2026.3: legacy_api_tokens was last read by release 2026.1.
-- migrate:allow ban-drop-table reason="unused since release 2026.2 (api_keys replaced it); the data was migrated in 0204"
DROP TABLE legacy_api_tokens;
