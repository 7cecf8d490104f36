CREATE TABLE model_aliases (
    alias    text PRIMARY KEY,
    model_id bigint NOT NULL
);

-- Created above: no code uses it yet.
ALTER TABLE model_aliases RENAME COLUMN alias TO name;
