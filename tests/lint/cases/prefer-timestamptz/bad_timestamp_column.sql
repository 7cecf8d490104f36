CREATE TABLE api_keys (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    last_used_at timestamp,
    expires_at   timestamp(3) without time zone NOT NULL
);
