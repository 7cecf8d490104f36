CREATE TABLE IF NOT EXISTS api_keys (
    id     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    prefix text NOT NULL
);

ALTER TABLE api_keys ADD CONSTRAINT api_keys_prefix_key UNIQUE (prefix);
