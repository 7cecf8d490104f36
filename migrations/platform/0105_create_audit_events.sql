-- release 1: append-only audit log, range-partitioned by month

CREATE TABLE audit_events (
    id              bigint GENERATED ALWAYS AS IDENTITY,
    occurred_at     timestamptz NOT NULL DEFAULT now(),
    organisation_id uuid,
    actor_user_id   uuid,
    actor_token_id  uuid,
    action          text NOT NULL,
    target_type     text,
    target_id       text,
    ip_address      inet,
    metadata        jsonb NOT NULL DEFAULT '{}'::jsonb,
    PRIMARY KEY (id, occurred_at),
    CONSTRAINT audit_events_action_format CHECK (action ~ '^[A-Z][A-Z0-9_]*$')
) PARTITION BY RANGE (occurred_at);

-- Catch-all partition; monthly partitions are created ahead of time by ensure_audit_events_partition().
CREATE TABLE audit_events_default PARTITION OF audit_events DEFAULT;

CREATE INDEX audit_events_organisation_occurred_idx ON audit_events (organisation_id, occurred_at DESC);
CREATE INDEX audit_events_metadata_idx ON audit_events USING gin (metadata jsonb_path_ops);

CREATE FUNCTION ensure_audit_events_partition(p_month date) RETURNS text
    LANGUAGE plpgsql
AS $$
DECLARE
    v_start date := date_trunc('month', p_month)::date;
    v_name  text := format('audit_events_%s', to_char(v_start, 'YYYY_MM'));
BEGIN
    IF to_regclass(v_name) IS NULL THEN
        EXECUTE format(
            'CREATE TABLE %I PARTITION OF audit_events FOR VALUES FROM (%L) TO (%L)',
            v_name, v_start, (v_start + interval '1 month')::date
        );
    END IF;
    RETURN v_name;
END;
$$;

COMMENT ON TABLE audit_events IS 'Append-only audit trail (logins, membership changes, secret rotations, MIGRATION_BACKFILL_* progress). No foreign keys: events outlive the rows they describe.';
