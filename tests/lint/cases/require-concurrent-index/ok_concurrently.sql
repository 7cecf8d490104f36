-- migrate:no-transaction
CREATE INDEX CONCURRENTLY IF NOT EXISTS inference_requests_model_id_created_at_idx
    ON inference_requests (model_id, created_at DESC);
