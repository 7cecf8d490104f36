-- Give every API key a public identifier that can be shown in the UI.
ALTER TABLE api_keys ADD COLUMN public_id uuid NOT NULL DEFAULT gen_random_uuid();
