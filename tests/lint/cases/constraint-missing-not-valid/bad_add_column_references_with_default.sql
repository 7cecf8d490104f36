-- The DEFAULT fills every existing row, so PostgreSQL validates the foreign key against each one.
ALTER TABLE chat_messages
    ADD COLUMN channel_id bigint NOT NULL DEFAULT 1 REFERENCES channels (id);
