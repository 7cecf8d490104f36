ALTER TABLE workspace_memberships ADD PRIMARY KEY (workspace_id, user_id);
