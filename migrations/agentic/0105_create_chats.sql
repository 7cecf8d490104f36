-- release 1: chat conversations and messages

CREATE TABLE chat_conversations (
    id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    workspace_id      uuid NOT NULL,
    user_id           uuid NOT NULL,
    knowledge_base_id uuid REFERENCES knowledge_bases (id) ON DELETE SET NULL,
    title             text,
    archived_at       timestamptz,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX chat_conversations_user_recent_idx ON chat_conversations (user_id, updated_at DESC)
    WHERE archived_at IS NULL;

CREATE TRIGGER chat_conversations_set_updated_at
    BEFORE UPDATE ON chat_conversations
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

CREATE TABLE chat_messages (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    conversation_id uuid NOT NULL REFERENCES chat_conversations (id) ON DELETE CASCADE,
    role            chat_message_role NOT NULL,
    content         text NOT NULL,
    tool_calls      jsonb,
    token_usage     jsonb,
    created_at      timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX chat_messages_conversation_idx ON chat_messages (conversation_id, id);

-- A new message bumps its conversation to the top of the recent list.
CREATE FUNCTION touch_chat_conversation() RETURNS trigger
    LANGUAGE plpgsql
AS $$
BEGIN
    -- set_updated_at() on chat_conversations stamps updated_at with now().
    UPDATE chat_conversations
    SET updated_at = now()
    WHERE id = NEW.conversation_id;
    RETURN NULL;
END;
$$;

CREATE TRIGGER chat_messages_touch_conversation
    AFTER INSERT ON chat_messages
    FOR EACH ROW EXECUTE FUNCTION touch_chat_conversation();

CREATE VIEW chat_conversation_summaries AS
SELECT c.id,
       c.workspace_id,
       c.user_id,
       c.title,
       count(m.id)       AS message_count,
       max(m.created_at) AS last_message_at
FROM chat_conversations c
LEFT JOIN chat_messages m ON m.conversation_id = c.id
WHERE c.archived_at IS NULL
GROUP BY c.id;
