-- Replaced by api_keys in this release; the previous release still reads legacy_api_tokens.
DROP TABLE legacy_api_tokens;
