CREATE TABLE run_events (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    run_id     uuid NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX run_events_run_id_idx ON run_events (run_id);

-- Replaced by a composite index before anyone used the table.
CREATE INDEX run_events_run_id_created_at_idx ON run_events (run_id, created_at);

DROP INDEX run_events_run_id_idx;
