-- A constant default fills existing rows from the catalog (PostgreSQL 11+): no rewrite, no failure.
ALTER TABLE users ADD COLUMN locale text NOT NULL DEFAULT 'en';
