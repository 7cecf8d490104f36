-- 63 bytes exactly is kept whole.
CREATE TABLE chat_thread_participants (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    thread_id bigint NOT NULL,
    last_read_message_id_for_notifications_and_unread_counter_badge bigint
);
