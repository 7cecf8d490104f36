ALTER TABLE users ADD COLUMN locale text NULL;
COMMIT;
CREATE INDEX CONCURRENTLY users_locale_idx ON users (locale);
