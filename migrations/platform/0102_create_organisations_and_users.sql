-- release 1: organisations and users

CREATE TABLE organisations (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    slug         text NOT NULL,
    display_name text NOT NULL,
    plan         text NOT NULL DEFAULT 'free',
    settings     jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT organisations_slug_key UNIQUE (slug),
    CONSTRAINT organisations_slug_format CHECK (slug ~ '^[a-z0-9][a-z0-9-]{1,62}$'),
    CONSTRAINT organisations_plan_check CHECK (plan IN ('free', 'team', 'enterprise'))
);

CREATE TABLE users (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    email         email_address NOT NULL,
    full_name     text,
    status        user_status NOT NULL DEFAULT 'invited',
    locale        text NOT NULL DEFAULT 'en',
    last_login_at timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);

-- Emails are unique regardless of case.
CREATE UNIQUE INDEX users_email_lower_key ON users (lower(email));

COMMENT ON TABLE organisations IS 'Tenants. Every workspace, secret and API token belongs to exactly one organisation.';
COMMENT ON COLUMN organisations.display_name IS 'Human-readable organisation name shown in the UI.';
