-- migrate:no-transactions
CREATE INDEX CONCURRENTLY users_locale_idx ON users (locale);
