-- release 1: secrets metadata (names, kinds, rotation, KMS key references; never values) and updated_at triggers

CREATE TYPE secret_kind AS ENUM ('api_key', 'oauth_client', 'database_password', 'certificate', 'ssh_key');

CREATE TABLE secrets (
    id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    organisation_id   uuid NOT NULL REFERENCES organisations (id) ON DELETE CASCADE,
    workspace_id      uuid REFERENCES workspaces (id) ON DELETE CASCADE,
    name              text NOT NULL,
    kind              secret_kind NOT NULL,
    kms_key_ref       text NOT NULL,
    current_version   integer NOT NULL DEFAULT 1 CHECK (current_version > 0),
    rotation_interval interval,
    rotated_at        timestamptz,
    created_by        uuid REFERENCES users (id) ON DELETE SET NULL,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    -- organisation-wide secrets have no workspace; NULLS NOT DISTINCT keeps their names unique too.
    CONSTRAINT secrets_scope_name_key UNIQUE NULLS NOT DISTINCT (organisation_id, workspace_id, name),
    CONSTRAINT secrets_name_format CHECK (name ~ '^[A-Za-z_][A-Za-z0-9_.-]{0,127}$'),
    CONSTRAINT secrets_kms_key_ref_not_blank CHECK (btrim(kms_key_ref) <> ''),
    CONSTRAINT secrets_rotation_interval_positive CHECK (rotation_interval IS NULL OR rotation_interval > interval '0')
);

CREATE VIEW secrets_due_for_rotation AS
SELECT s.id,
       s.organisation_id,
       s.workspace_id,
       s.name,
       s.kind,
       coalesce(s.rotated_at, s.created_at) + s.rotation_interval AS rotation_due_at
FROM secrets s
WHERE s.rotation_interval IS NOT NULL
  AND coalesce(s.rotated_at, s.created_at) + s.rotation_interval <= now();

COMMENT ON TABLE secrets IS 'Metadata only. Secret values live in the KMS-backed vault and are addressed by kms_key_ref + current_version.';
COMMENT ON COLUMN secrets.kms_key_ref IS 'Provider key reference (e.g. an AWS KMS key ARN or a GCP KMS key resource name).';

-- Attach set_updated_at() to every table created so far that has an updated_at column.
-- migrate:allow review-dynamic-sql reason="reviewed: creates one BEFORE UPDATE trigger per table created in release 1; no table has rows yet"
DO $$
DECLARE
    t record;
BEGIN
    FOR t IN
        SELECT c.table_name
        FROM information_schema.columns c
        JOIN information_schema.tables tb
          ON tb.table_schema = c.table_schema AND tb.table_name = c.table_name
        WHERE c.table_schema = 'public'
          AND c.column_name = 'updated_at'
          AND tb.table_type = 'BASE TABLE'
        ORDER BY c.table_name
    LOOP
        EXECUTE format(
            'CREATE OR REPLACE TRIGGER %I BEFORE UPDATE ON %I FOR EACH ROW EXECUTE FUNCTION set_updated_at()',
            t.table_name || '_set_updated_at', t.table_name
        );
    END LOOP;
END;
$$;
