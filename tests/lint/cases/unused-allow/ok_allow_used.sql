ALTER TABLE model_deployments ADD COLUMN cloud_region text NULL;

-- migrate:allow renaming-column reason="no release-1 service code reads region; only the admin seed tool wrote it"
ALTER TABLE model_deployments RENAME COLUMN region TO legacy_region;
