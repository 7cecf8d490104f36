-- release 2: rename model_deployments.region to cloud_region
-- Safe as a one-step rename: the column was written only by the admin seed tooling in
-- release 1 and no service code read it until region-aware routing ships in release 2.
ALTER TABLE model_deployments RENAME COLUMN region TO cloud_region;
