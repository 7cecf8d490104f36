-- SHARE on chat_messages (writes wait) for the whole rebuild of every index.
REINDEX TABLE chat_messages;
