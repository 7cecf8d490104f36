-- release 1: model and job enums plus the updated_at trigger function

CREATE TYPE model_kind AS ENUM ('chat', 'completion', 'embedding', 'rerank');

CREATE TYPE job_status AS ENUM ('pending', 'running', 'succeeded', 'failed', 'cancelled');

CREATE FUNCTION set_updated_at() RETURNS trigger
    LANGUAGE plpgsql
AS $$
BEGIN
    NEW.updated_at := now();
    RETURN NEW;
END;
$$;
