CREATE TABLE workspace_quotas (
    workspace_id uuid PRIMARY KEY,
    max_members  integer
);

-- Created above: nothing to scan.
ALTER TABLE workspace_quotas ALTER COLUMN max_members SET NOT NULL;
