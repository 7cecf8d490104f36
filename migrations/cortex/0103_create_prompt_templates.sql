-- release 1: prompt templates with immutable versions

CREATE TABLE prompt_templates (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    workspace_id uuid NOT NULL,
    slug         text NOT NULL,
    description  text,
    created_by   uuid,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT prompt_templates_workspace_slug_key UNIQUE (workspace_id, slug),
    CONSTRAINT prompt_templates_slug_format CHECK (slug ~ '^[a-z0-9][a-z0-9_-]{0,99}$')
);

CREATE TRIGGER prompt_templates_set_updated_at
    BEFORE UPDATE ON prompt_templates
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

CREATE TABLE prompt_template_versions (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    template_id uuid NOT NULL REFERENCES prompt_templates (id) ON DELETE CASCADE,
    version     integer NOT NULL CHECK (version > 0),
    body        text NOT NULL,
    variables   jsonb NOT NULL DEFAULT '[]'::jsonb,
    model_id    uuid REFERENCES models (id) ON DELETE SET NULL,
    parameters  jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_by  uuid,
    created_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT prompt_template_versions_template_version_key UNIQUE (template_id, version),
    CONSTRAINT prompt_template_versions_variables_is_array CHECK (jsonb_typeof(variables) = 'array')
);

CREATE VIEW latest_prompt_template_versions AS
SELECT DISTINCT ON (v.template_id)
       t.workspace_id,
       t.slug,
       v.template_id,
       v.id AS version_id,
       v.version,
       v.body,
       v.variables,
       v.model_id,
       v.parameters,
       v.created_at
FROM prompt_template_versions v
JOIN prompt_templates t ON t.id = v.template_id
ORDER BY v.template_id, v.version DESC;
