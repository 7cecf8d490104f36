-- migrate:no-transaction
REINDEX INDEX CONCURRENTLY chat_messages_chat_id_created_at_idx;

REINDEX (VERBOSE) TABLE CONCURRENTLY chat_messages;
