-- migrate:no-transaction
CREATE INDEX CONCURRENTLY IF NOT EXISTS chat_messages_edited_at_idx ON chat_messages (edited_at);
