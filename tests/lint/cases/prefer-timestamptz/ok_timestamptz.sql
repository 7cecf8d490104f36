CREATE TABLE api_keys (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    last_used_at timestamptz,
    expires_at   timestamp(3) with time zone NOT NULL,
    valid_on     date
);
