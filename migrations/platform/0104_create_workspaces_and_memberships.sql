-- release 1: workspaces and organisation/workspace memberships with roles

CREATE TABLE workspaces (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    organisation_id uuid NOT NULL REFERENCES organisations (id) ON DELETE CASCADE,
    slug            text NOT NULL,
    name            text NOT NULL,
    description     text,
    archived_at     timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT workspaces_organisation_slug_key UNIQUE (organisation_id, slug),
    CONSTRAINT workspaces_slug_format CHECK (slug ~ '^[a-z0-9][a-z0-9-]{1,62}$')
);

CREATE TABLE organisation_memberships (
    organisation_id uuid NOT NULL REFERENCES organisations (id) ON DELETE CASCADE,
    user_id         uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role            membership_role NOT NULL DEFAULT 'member',
    invited_by      uuid REFERENCES users (id) ON DELETE SET NULL,
    joined_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (organisation_id, user_id)
);

CREATE INDEX organisation_memberships_user_id_idx ON organisation_memberships (user_id);

CREATE TABLE workspace_memberships (
    workspace_id uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    user_id      uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role         membership_role NOT NULL DEFAULT 'member',
    joined_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (workspace_id, user_id),
    CONSTRAINT workspace_memberships_no_owner CHECK (role <> 'owner')
);

CREATE INDEX workspace_memberships_user_id_idx ON workspace_memberships (user_id);

CREATE FUNCTION is_organisation_admin(p_organisation_id uuid, p_user_id uuid) RETURNS boolean
    LANGUAGE sql
    STABLE
AS $$
    SELECT EXISTS (
        SELECT 1
        FROM organisation_memberships m
        WHERE m.organisation_id = p_organisation_id
          AND m.user_id = p_user_id
          AND m.role IN ('owner', 'admin')
    );
$$;
