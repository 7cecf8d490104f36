CREATE TABLE audit_events (
    id          integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    actor_id    bigint,
    action      text NOT NULL,
    occurred_at timestamptz NOT NULL DEFAULT now()
);
