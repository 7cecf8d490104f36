ALTER TABLE chat_messages ADD COLUMN edited_at timestamptz NULL;

-- CONCURRENTLY can't run in a transaction, so the whole file runs statement by statement:
-- if the index build fails, the ALTER TABLE above stays applied on its own.
CREATE INDEX CONCURRENTLY chat_messages_edited_at_idx ON chat_messages (edited_at);
