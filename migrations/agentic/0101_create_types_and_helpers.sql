-- release 1: enums for runs, triggers and chat roles, plus the updated_at trigger function

CREATE TYPE workflow_run_status AS ENUM ('queued', 'running', 'succeeded', 'failed', 'cancelled');

CREATE TYPE automation_trigger_kind AS ENUM ('manual', 'schedule', 'webhook', 'event');

CREATE TYPE chat_message_role AS ENUM ('system', 'user', 'assistant', 'tool');

CREATE FUNCTION set_updated_at() RETURNS trigger
    LANGUAGE plpgsql
AS $$
BEGIN
    NEW.updated_at := now();
    RETURN NEW;
END;
$$;
