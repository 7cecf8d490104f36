-- release 1: automations (triggers) and their cron schedules

CREATE TABLE automations (
    id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    workspace_id   uuid NOT NULL,
    workflow_id    uuid NOT NULL REFERENCES workflows (id) ON DELETE CASCADE,
    name           text NOT NULL,
    trigger_kind   automation_trigger_kind NOT NULL,
    trigger_config jsonb NOT NULL DEFAULT '{}'::jsonb,
    is_enabled     boolean NOT NULL DEFAULT true,
    created_by     uuid,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT automations_workspace_name_key UNIQUE (workspace_id, name)
);

CREATE INDEX automations_workflow_id_idx ON automations (workflow_id);

CREATE TRIGGER automations_set_updated_at
    BEFORE UPDATE ON automations
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

CREATE TABLE automation_schedules (
    automation_id   uuid PRIMARY KEY REFERENCES automations (id) ON DELETE CASCADE,
    cron_expression text NOT NULL,
    timezone        text NOT NULL DEFAULT 'UTC',
    next_fire_at    timestamptz,
    last_fired_at   timestamptz,
    CONSTRAINT automation_schedules_cron_format CHECK (cron_expression ~ '^\S+(\s+\S+){4,5}$')
);

CREATE INDEX automation_schedules_next_fire_idx ON automation_schedules (next_fire_at)
    WHERE next_fire_at IS NOT NULL;
