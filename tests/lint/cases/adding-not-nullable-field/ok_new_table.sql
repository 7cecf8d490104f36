CREATE TABLE notification_settings (
    user_id bigint PRIMARY KEY,
    channel text NOT NULL
);

-- Created above, so it has no rows yet.
ALTER TABLE notification_settings ADD COLUMN frequency text NOT NULL;
