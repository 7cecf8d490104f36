CREATE TABLE chat_message_feedback (
    id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    message_id uuid NOT NULL,
    rating     smallint NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- Created above and empty: validating it scans nothing.
ALTER TABLE chat_message_feedback
    ADD CONSTRAINT chat_message_feedback_message_id_fkey
    FOREIGN KEY (message_id) REFERENCES chat_messages (id) ON DELETE CASCADE;

ALTER TABLE chat_message_feedback
    ADD CONSTRAINT chat_message_feedback_rating_range CHECK (rating BETWEEN -1 AND 1);
