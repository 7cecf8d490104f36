CREATE TABLE embedding_jobs (
    id         integer NOT NULL,
    model_id   bigint NOT NULL,
    status     text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT embedding_jobs_pkey PRIMARY KEY (id)
);
