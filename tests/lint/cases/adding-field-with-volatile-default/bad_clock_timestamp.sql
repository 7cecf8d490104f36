ALTER TABLE sessions
    ADD COLUMN issued_at timestamptz NOT NULL DEFAULT clock_timestamp();
