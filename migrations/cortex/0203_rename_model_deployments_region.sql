-- release 2: rename model_deployments.region to cloud_region
-- Safe as a one-step rename: the column was written only by the admin seed tooling in
-- release 1 and no service code read it until region-aware routing ships in release 2.
-- migrate:allow renaming-column reason="no release-1 service code reads region; only the admin seed tool wrote it"
ALTER TABLE model_deployments RENAME COLUMN region TO cloud_region;
