ALTER TABLE model_deployments ADD COLUMN cloud_region text NULL;

-- An allow covers the statement right after it, and only that one.
-- migrate:allow renaming-column reason="no release-1 code reads region"
COMMENT ON COLUMN model_deployments.cloud_region IS 'replaces region';

ALTER TABLE model_deployments RENAME COLUMN region TO legacy_region;
