-- A new column is all NULL: PostgreSQL skips validating a foreign key declared on ADD COLUMN (no scan).
ALTER TABLE chat_messages
    ADD COLUMN reply_to_id uuid NULL REFERENCES chat_messages (id) ON DELETE SET NULL;
