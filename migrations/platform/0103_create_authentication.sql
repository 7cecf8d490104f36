-- release 1: authentication: password credentials, sessions, API tokens and MFA factors

CREATE TABLE user_credentials (
    user_id             uuid PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    password_hash       text NOT NULL,
    password_algo       text NOT NULL DEFAULT 'argon2id',
    password_changed_at timestamptz NOT NULL DEFAULT now(),
    failed_attempts     integer NOT NULL DEFAULT 0 CHECK (failed_attempts >= 0),
    locked_until        timestamptz
);

CREATE TABLE sessions (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    ip_address  inet,
    user_agent  text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    revoked_at  timestamptz,
    CONSTRAINT sessions_expiry_after_creation CHECK (expires_at > created_at)
);

-- Only live sessions are ever looked up by user.
CREATE INDEX sessions_user_id_live_idx ON sessions (user_id) WHERE revoked_at IS NULL;

CREATE TABLE api_tokens (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    organisation_id uuid NOT NULL REFERENCES organisations (id) ON DELETE CASCADE,
    created_by      uuid REFERENCES users (id) ON DELETE SET NULL,
    name            text NOT NULL,
    token_prefix    text NOT NULL,
    token_hash      text NOT NULL,
    scopes          text[] NOT NULL DEFAULT '{}',
    expires_at      timestamptz,
    last_used_at    timestamptz,
    revoked_at      timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT api_tokens_token_prefix_key UNIQUE (token_prefix),
    CONSTRAINT api_tokens_organisation_name_key UNIQUE (organisation_id, name),
    CONSTRAINT api_tokens_prefix_format CHECK (token_prefix ~ '^scr_[A-Za-z0-9]{8}$')
);

CREATE TABLE mfa_factors (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id      uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind         mfa_kind NOT NULL,
    label        text,
    secret_ref   text NOT NULL,
    confirmed_at timestamptz,
    created_at   timestamptz NOT NULL DEFAULT now()
);

-- A user has at most one TOTP authenticator.
CREATE UNIQUE INDEX mfa_factors_one_totp_per_user ON mfa_factors (user_id) WHERE kind = 'totp';

COMMENT ON COLUMN api_tokens.token_hash IS 'SHA-256 of the full token; the plaintext token is shown once and never stored.';
COMMENT ON COLUMN mfa_factors.secret_ref IS 'Reference into the KMS-backed vault; the factor secret itself is never stored here.';
