CREATE TABLE chat_message_feedback (
    id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    message_id uuid NOT NULL,
    rating     smallint NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- Created above: indexing an empty table blocks nobody.
CREATE INDEX chat_message_feedback_message_id_idx ON chat_message_feedback (message_id);
