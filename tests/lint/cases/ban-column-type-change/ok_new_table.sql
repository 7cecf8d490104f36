CREATE TABLE feature_flags (
    key     text PRIMARY KEY,
    enabled integer NOT NULL
);

-- Created above: nothing to rewrite.
ALTER TABLE feature_flags ALTER COLUMN enabled TYPE boolean USING enabled <> 0;
