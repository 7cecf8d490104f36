-- Scans the whole table under ACCESS EXCLUSIVE to check the existing rows.
ALTER TABLE inference_requests
    ADD CONSTRAINT inference_requests_cost_non_negative CHECK (cost_usd >= 0);
