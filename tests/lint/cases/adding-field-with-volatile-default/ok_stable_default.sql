-- now() is STABLE and a constant is a constant: PostgreSQL 11+ stores the default in the catalog, no rewrite.
ALTER TABLE sessions ADD COLUMN last_seen_at timestamptz NOT NULL DEFAULT now();

ALTER TABLE users ADD COLUMN locale text NOT NULL DEFAULT 'en';
