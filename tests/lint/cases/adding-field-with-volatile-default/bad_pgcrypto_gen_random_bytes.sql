-- xfail: gen_random_bytes() (pgcrypto, VOLATILE) is missing from locks.VOLATILE_FUNCTIONS, so this table rewrite is not reported
ALTER TABLE api_tokens ADD COLUMN salt bytea NOT NULL DEFAULT gen_random_bytes(16);
