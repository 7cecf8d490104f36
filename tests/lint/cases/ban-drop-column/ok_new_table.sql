CREATE TABLE import_rows AS
    SELECT id, email, raw_payload FROM staging_users WITH NO DATA;

-- The table was created above: no pod of any release reads it yet.
ALTER TABLE import_rows DROP COLUMN raw_payload;
