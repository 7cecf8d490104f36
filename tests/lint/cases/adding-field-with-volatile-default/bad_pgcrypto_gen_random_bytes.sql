ALTER TABLE api_tokens ADD COLUMN salt bytea NOT NULL DEFAULT gen_random_bytes(16);
