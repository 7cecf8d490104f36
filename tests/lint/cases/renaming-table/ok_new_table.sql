CREATE TABLE chat_feedback_tmp (
    message_id uuid PRIMARY KEY,
    rating     smallint NOT NULL
);

-- Created above: nothing reads it under either name yet.
ALTER TABLE chat_feedback_tmp RENAME TO chat_message_ratings;
