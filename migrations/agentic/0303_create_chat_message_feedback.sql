-- release 3: thumbs-up/down feedback on assistant messages

CREATE TABLE chat_message_feedback (
    message_id bigint NOT NULL REFERENCES chat_messages (id) ON DELETE CASCADE,
    user_id    uuid NOT NULL,
    rating     smallint NOT NULL CHECK (rating IN (-1, 1)),
    reason     text,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (message_id, user_id)
);

CREATE INDEX chat_message_feedback_negative_idx ON chat_message_feedback (created_at) WHERE rating = -1;
