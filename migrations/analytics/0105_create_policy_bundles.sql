-- release 1: policy bundles, their policies, published versions and table assignments

CREATE TABLE policy_bundles (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    workspace_id uuid NOT NULL,
    name         text NOT NULL,
    description  text,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT policy_bundles_workspace_name_key UNIQUE (workspace_id, name)
);

CREATE TRIGGER policy_bundles_set_updated_at
    BEFORE UPDATE ON policy_bundles
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

CREATE TABLE policies (
    id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    bundle_id         uuid NOT NULL REFERENCES policy_bundles (id) ON DELETE CASCADE,
    name              text NOT NULL,
    effect            policy_effect NOT NULL,
    resource_selector jsonb NOT NULL,
    condition         text,
    mask_expression   text,
    priority          integer NOT NULL DEFAULT 100 CHECK (priority BETWEEN 0 AND 10000),
    CONSTRAINT policies_bundle_name_key UNIQUE (bundle_id, name),
    CONSTRAINT policies_mask_needs_expression CHECK (effect <> 'mask' OR mask_expression IS NOT NULL)
);

CREATE INDEX policies_resource_selector_idx ON policies USING gin (resource_selector jsonb_path_ops);

CREATE TABLE policy_bundle_versions (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    bundle_id    uuid NOT NULL REFERENCES policy_bundles (id) ON DELETE CASCADE,
    version      integer NOT NULL CHECK (version > 0),
    snapshot     jsonb NOT NULL,
    published_by uuid,
    published_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT policy_bundle_versions_bundle_version_key UNIQUE (bundle_id, version)
);

CREATE TABLE policy_assignments (
    id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    bundle_version_id uuid NOT NULL REFERENCES policy_bundle_versions (id),
    table_id          uuid NOT NULL REFERENCES managed_tables (id) ON DELETE CASCADE,
    assigned_by       uuid,
    assigned_at       timestamptz NOT NULL DEFAULT now(),
    unassigned_at     timestamptz,
    CONSTRAINT policy_assignments_interval_check CHECK (unassigned_at IS NULL OR unassigned_at >= assigned_at)
);

-- At most one live bundle assignment per table.
CREATE UNIQUE INDEX policy_assignments_one_live_per_table ON policy_assignments (table_id)
    WHERE unassigned_at IS NULL;

COMMENT ON TABLE policy_bundle_versions IS 'Immutable published snapshots of a bundle; assignments pin a version, not the mutable bundle.';
