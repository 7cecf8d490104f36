CREATE TABLE automation_drafts (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    workspace_id bigint NOT NULL
);

-- The table was created above: no code of the previous release uses it.
ALTER TABLE automation_drafts ALTER COLUMN workspace_id DROP NOT NULL;
