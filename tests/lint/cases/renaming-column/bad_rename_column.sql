-- Release N-1 pods still SELECT region: they fail until the rollout ends.
ALTER TABLE model_deployments RENAME COLUMN region TO cloud_region;
