-- Counters and small enumerations that are not keys may stay integer / smallint.
CREATE TABLE embedding_jobs (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    attempts    integer NOT NULL DEFAULT 0,
    priority    smallint NOT NULL DEFAULT 100,
    max_retries int NOT NULL DEFAULT 5
);
