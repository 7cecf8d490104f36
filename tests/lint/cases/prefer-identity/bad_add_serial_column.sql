ALTER TABLE prompt_templates ADD COLUMN revision bigserial;
