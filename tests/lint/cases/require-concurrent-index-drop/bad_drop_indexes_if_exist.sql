DROP INDEX IF EXISTS chat_messages_created_at_idx, public.chat_messages_chat_id_idx;
