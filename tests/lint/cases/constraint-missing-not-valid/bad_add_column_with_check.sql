-- xfail: a CHECK declared on ADD COLUMN is validated by a full scan under ACCESS EXCLUSIVE, but locks.py only looks at ADD CONSTRAINT
ALTER TABLE workspaces
    ADD COLUMN seat_limit integer CHECK (seat_limit > 0);
