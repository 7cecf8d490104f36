CREATE SCHEMA IF NOT EXISTS archive;

CREATE TABLE archive.users (LIKE users INCLUDING ALL);

CREATE INDEX users_last_login_at_idx ON users (last_login_at);
