-- The table is new unless it exists already: the linter counts it as created (up refuses the index if the
-- table exists and is large).
CREATE TABLE IF NOT EXISTS webhook_deliveries (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    endpoint_id bigint NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX IF NOT EXISTS webhook_deliveries_endpoint_id_idx ON webhook_deliveries (endpoint_id);
