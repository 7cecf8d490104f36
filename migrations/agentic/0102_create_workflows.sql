-- release 1: workflows, workflow runs and run steps
-- organisation_id/workspace_id/user ids refer to the platform database, so they carry no foreign keys.

CREATE TABLE workflows (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    organisation_id uuid NOT NULL,
    workspace_id    uuid NOT NULL,
    name            text NOT NULL,
    description     text,
    definition      jsonb NOT NULL DEFAULT '{}'::jsonb,
    version         integer NOT NULL DEFAULT 1 CHECK (version > 0),
    is_enabled      boolean NOT NULL DEFAULT true,
    created_by      uuid,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT workflows_workspace_name_key UNIQUE (workspace_id, name),
    CONSTRAINT workflows_definition_is_object CHECK (jsonb_typeof(definition) = 'object')
);

CREATE INDEX workflows_definition_idx ON workflows USING gin (definition jsonb_path_ops);

CREATE TRIGGER workflows_set_updated_at
    BEFORE UPDATE ON workflows
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

CREATE TABLE workflow_runs (
    id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    workflow_id      uuid NOT NULL REFERENCES workflows (id) ON DELETE CASCADE,
    workflow_version integer NOT NULL,
    automation_id    uuid,
    status           workflow_run_status NOT NULL DEFAULT 'queued',
    input            jsonb NOT NULL DEFAULT '{}'::jsonb,
    output           jsonb,
    error            text,
    queued_at        timestamptz NOT NULL DEFAULT now(),
    started_at       timestamptz,
    finished_at      timestamptz,
    CONSTRAINT workflow_runs_finished_after_started
        CHECK (finished_at IS NULL OR started_at IS NULL OR finished_at >= started_at)
);

CREATE INDEX workflow_runs_workflow_queued_idx ON workflow_runs (workflow_id, queued_at DESC);
-- The scheduler only ever scans unfinished runs.
CREATE INDEX workflow_runs_pending_idx ON workflow_runs (queued_at) WHERE status IN ('queued', 'running');

CREATE TABLE workflow_run_steps (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    run_id      uuid NOT NULL REFERENCES workflow_runs (id) ON DELETE CASCADE,
    step_key    text NOT NULL,
    position    integer NOT NULL CHECK (position >= 0),
    attempt     integer NOT NULL DEFAULT 1 CHECK (attempt >= 1),
    status      workflow_run_status NOT NULL DEFAULT 'queued',
    output      jsonb,
    error       text,
    started_at  timestamptz,
    finished_at timestamptz,
    CONSTRAINT workflow_run_steps_run_step_attempt_key UNIQUE (run_id, step_key, attempt)
);

COMMENT ON COLUMN workflow_runs.automation_id IS 'Automation that triggered the run, NULL for manual runs.';
