-- xfail: prefer-bigint only reads column-level PRIMARY KEY / identity; a table-level PRIMARY KEY (id) on an integer column is missed
CREATE TABLE embedding_jobs (
    id         integer NOT NULL,
    model_id   bigint NOT NULL,
    status     text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT embedding_jobs_pkey PRIMARY KEY (id)
);
