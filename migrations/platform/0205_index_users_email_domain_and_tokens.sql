-- release 2: index users.email_domain and active API tokens without blocking writes
-- migrate:no-transaction
CREATE INDEX CONCURRENTLY IF NOT EXISTS users_email_domain_idx ON users (email_domain) WHERE email_domain IS NOT NULL;

CREATE INDEX CONCURRENTLY IF NOT EXISTS api_tokens_organisation_active_idx ON api_tokens (organisation_id) WHERE revoked_at IS NULL;
