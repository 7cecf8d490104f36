-- migrate:no-transaction
-- migrate:allow require-concurrent-index reason="left over from before the index was made concurrent"
CREATE INDEX CONCURRENTLY IF NOT EXISTS users_email_domain_idx ON users (email_domain);
