CREATE TABLE prompt_versions (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    template_id bigint NOT NULL,
    body        text NOT NULL
);

INSERT INTO prompt_versions (template_id, body)
SELECT id, body FROM prompt_templates;

CREATE INDEX prompt_versions_template_id_idx ON prompt_versions (template_id);

-- Created above: no other session can use it yet.
REINDEX TABLE prompt_versions;
