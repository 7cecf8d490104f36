-- release 1: model registry: providers, models and per-region deployments

CREATE TABLE model_providers (
    id                     uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name                   text NOT NULL,
    kind                   text NOT NULL CHECK (kind IN ('openai', 'anthropic', 'azure_openai', 'bedrock', 'vertex', 'self_hosted')),
    base_url               text,
    credentials_secret_ref text,
    created_at             timestamptz NOT NULL DEFAULT now(),
    updated_at             timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT model_providers_name_key UNIQUE (name),
    CONSTRAINT model_providers_self_hosted_url CHECK (kind <> 'self_hosted' OR base_url IS NOT NULL)
);

CREATE TRIGGER model_providers_set_updated_at
    BEFORE UPDATE ON model_providers
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

CREATE TABLE models (
    id                   uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    provider_id          uuid NOT NULL REFERENCES model_providers (id) ON DELETE RESTRICT,
    name                 text NOT NULL,
    version              text NOT NULL DEFAULT 'latest',
    kind                 model_kind NOT NULL,
    context_window       integer NOT NULL CHECK (context_window > 0),
    embedding_dimensions integer,
    capabilities         jsonb NOT NULL DEFAULT '[]'::jsonb,
    pricing              jsonb,
    is_enabled           boolean NOT NULL DEFAULT true,
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT models_provider_name_version_key UNIQUE (provider_id, name, version),
    CONSTRAINT models_embedding_dimensions_check
        CHECK ((kind = 'embedding') = (embedding_dimensions IS NOT NULL) AND coalesce(embedding_dimensions, 1) > 0)
);

CREATE INDEX models_capabilities_idx ON models USING gin (capabilities);

CREATE TRIGGER models_set_updated_at
    BEFORE UPDATE ON models
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

CREATE TABLE model_deployments (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    model_id        uuid NOT NULL REFERENCES models (id) ON DELETE CASCADE,
    organisation_id uuid,
    region          text NOT NULL,
    endpoint_url    text NOT NULL,
    rate_limit_rpm  integer CHECK (rate_limit_rpm > 0),
    created_at      timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX model_deployments_model_idx ON model_deployments (model_id);

COMMENT ON COLUMN model_providers.credentials_secret_ref IS 'Name of a platform secret (metadata only here); the credential is resolved from the vault at call time.';
COMMENT ON COLUMN model_deployments.organisation_id IS 'NULL for shared deployments; set for an organisation''s dedicated capacity.';
