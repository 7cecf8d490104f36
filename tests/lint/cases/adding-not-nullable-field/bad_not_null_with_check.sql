ALTER TABLE workspaces
    ADD COLUMN plan text NOT NULL CHECK (plan IN ('free', 'team', 'enterprise'));
