CREATE TABLE workspace_memberships (
    workspace_id uuid NOT NULL,
    user_id      uuid NOT NULL,
    role         text NOT NULL DEFAULT 'member'
);

-- Created above and empty: the index builds instantly.
ALTER TABLE workspace_memberships ADD PRIMARY KEY (workspace_id, user_id);

ALTER TABLE workspace_memberships ADD CONSTRAINT workspace_memberships_user_key UNIQUE (user_id, workspace_id);
