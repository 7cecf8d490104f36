-- release 1: shared enums, the email domain and the updated_at trigger function used by every table

CREATE TYPE user_status AS ENUM ('invited', 'active', 'suspended', 'deactivated');

CREATE TYPE membership_role AS ENUM ('owner', 'admin', 'member', 'viewer');

CREATE TYPE mfa_kind AS ENUM ('totp', 'webauthn', 'recovery_codes');

CREATE DOMAIN email_address AS text
    CHECK (length(VALUE) <= 320 AND VALUE ~ '^[^@[:space:]]+@[^@[:space:]]+\.[^@[:space:]]+$');

COMMENT ON DOMAIN email_address IS 'An RFC 5321-length-limited email address; case is preserved, uniqueness is enforced on lower(email).';

CREATE FUNCTION set_updated_at() RETURNS trigger
    LANGUAGE plpgsql
AS $$
BEGIN
    NEW.updated_at := now();
    RETURN NEW;
END;
$$;
