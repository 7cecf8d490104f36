ALTER TABLE workflow_steps
    ALTER COLUMN output TYPE jsonb USING output::jsonb;
