ALTER TABLE workspaces
    ADD COLUMN seat_limit integer CHECK (seat_limit > 0);
