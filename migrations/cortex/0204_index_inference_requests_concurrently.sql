-- release 2: indexes on the inference log for metadata filters, error triage and deployment stats
-- migrate:no-transaction
CREATE INDEX CONCURRENTLY IF NOT EXISTS inference_requests_metadata_idx ON inference_requests USING gin (metadata jsonb_path_ops);

CREATE INDEX CONCURRENTLY IF NOT EXISTS inference_requests_failures_idx ON inference_requests (created_at DESC) WHERE status <> 'ok';

CREATE INDEX CONCURRENTLY IF NOT EXISTS inference_requests_deployment_idx ON inference_requests (deployment_id) WHERE deployment_id IS NOT NULL;
