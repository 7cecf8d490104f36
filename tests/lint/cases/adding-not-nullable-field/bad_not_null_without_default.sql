-- Fails with "column "locale" of relation "users" contains null values" as soon as users has a row.
ALTER TABLE users ADD COLUMN locale text NOT NULL;
