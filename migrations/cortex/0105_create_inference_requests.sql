-- release 1: inference request log (one row per model call; prompts and completions are not stored)

CREATE TABLE inference_requests (
    id                         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    request_id                 uuid NOT NULL DEFAULT gen_random_uuid(),
    organisation_id            uuid NOT NULL,
    workspace_id               uuid,
    model_id                   uuid NOT NULL REFERENCES models (id),
    deployment_id              uuid REFERENCES model_deployments (id) ON DELETE SET NULL,
    prompt_template_version_id uuid REFERENCES prompt_template_versions (id) ON DELETE SET NULL,
    caller                     text NOT NULL,
    status                     text NOT NULL CHECK (status IN ('ok', 'error', 'timeout', 'rate_limited')),
    error_code                 text,
    input_tokens               integer CHECK (input_tokens >= 0),
    output_tokens              integer CHECK (output_tokens >= 0),
    latency_ms                 integer CHECK (latency_ms >= 0),
    metadata                   jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at                 timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT inference_requests_request_id_key UNIQUE (request_id),
    CONSTRAINT inference_requests_error_code_check CHECK (status = 'ok' OR error_code IS NOT NULL)
);

CREATE INDEX inference_requests_org_created_idx ON inference_requests (organisation_id, created_at DESC);
CREATE INDEX inference_requests_model_created_idx ON inference_requests (model_id, created_at DESC);

COMMENT ON TABLE inference_requests IS 'Usage/latency log for billing and quotas. No prompt or completion text is stored.';
