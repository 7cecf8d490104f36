-- release 2: record cost and prompt-cache usage per inference request

ALTER TABLE inference_requests ADD COLUMN cost_usd numeric(12, 6) NULL;
ALTER TABLE inference_requests ADD COLUMN cached_input_tokens integer NULL;
ALTER TABLE inference_requests ADD COLUMN cache_hit boolean NULL;

COMMENT ON COLUMN inference_requests.cost_usd IS 'Cost computed from models.pricing at request time; NULL for requests logged before release 2.';
