-- release 1: ontology branches and merge requests, in their own ontology_branching schema

CREATE SCHEMA IF NOT EXISTS ontology_branching;

COMMENT ON SCHEMA ontology_branching IS 'Branches of the ontology schema and the merge requests that bring them back to main.';

CREATE TABLE ontology_branching.branches (
    id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    workspace_id     uuid NOT NULL,
    name             text NOT NULL,
    parent_branch_id uuid REFERENCES ontology_branching.branches (id) ON DELETE RESTRICT,
    base_revision    bigint NOT NULL,
    created_by       uuid NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    archived_at      timestamptz,
    CONSTRAINT branches_workspace_name_key UNIQUE (workspace_id, name),
    CONSTRAINT branches_name_not_main CHECK (lower(name) <> 'main')
);

CREATE TABLE ontology_branching.branch_changes (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    branch_id   uuid NOT NULL REFERENCES ontology_branching.branches (id) ON DELETE CASCADE,
    entity_kind text NOT NULL CHECK (entity_kind IN ('object_type', 'property', 'link_type', 'binding')),
    entity_id   uuid NOT NULL,
    operation   text NOT NULL CHECK (operation IN ('create', 'update', 'delete')),
    change      jsonb NOT NULL,
    created_by  uuid NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX branch_changes_branch_idx ON ontology_branching.branch_changes (branch_id, id);

CREATE TABLE ontology_branching.merge_requests (
    id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    branch_id        uuid NOT NULL REFERENCES ontology_branching.branches (id) ON DELETE CASCADE,
    target_branch_id uuid REFERENCES ontology_branching.branches (id) ON DELETE CASCADE,
    title            text NOT NULL,
    description      text,
    status           text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'approved', 'merged', 'closed')),
    author_id        uuid NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    merged_at        timestamptz,
    merged_revision  bigint,
    CONSTRAINT merge_requests_merged_fields
        CHECK ((status = 'merged') = (merged_at IS NOT NULL AND merged_revision IS NOT NULL)),
    CONSTRAINT merge_requests_not_into_self CHECK (target_branch_id IS DISTINCT FROM branch_id)
);

-- One open merge request per source branch.
CREATE UNIQUE INDEX merge_requests_one_open_per_branch ON ontology_branching.merge_requests (branch_id)
    WHERE status IN ('open', 'approved');

CREATE TRIGGER merge_requests_set_updated_at
    BEFORE UPDATE ON ontology_branching.merge_requests
    FOR EACH ROW EXECUTE FUNCTION public.set_updated_at();

COMMENT ON COLUMN ontology_branching.merge_requests.target_branch_id IS 'NULL means the main ontology.';
