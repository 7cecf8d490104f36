CREATE TABLE model_deployments (
    id         bigserial PRIMARY KEY,
    model_id   bigint NOT NULL,
    region     text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
