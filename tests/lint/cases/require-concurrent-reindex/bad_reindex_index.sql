-- The bloated index after the purge; ACCESS EXCLUSIVE on the index blocks the queries that plan with it.
REINDEX INDEX chat_messages_chat_id_created_at_idx;
