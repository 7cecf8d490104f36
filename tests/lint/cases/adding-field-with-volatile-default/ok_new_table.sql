CREATE TABLE webhooks (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    url        text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- The table was created above: it is empty, so adding a volatile default rewrites nothing.
ALTER TABLE webhooks ADD COLUMN signing_secret uuid NOT NULL DEFAULT gen_random_uuid();
