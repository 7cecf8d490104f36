-- Blocks every INSERT, UPDATE and DELETE on inference_requests for the whole build.
CREATE INDEX inference_requests_model_id_created_at_idx
    ON inference_requests (model_id, created_at DESC);
