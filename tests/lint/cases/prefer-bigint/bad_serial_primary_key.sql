CREATE TABLE prompt_templates (
    id   serial PRIMARY KEY,
    name text NOT NULL UNIQUE,
    body text NOT NULL
);
