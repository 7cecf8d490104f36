-- release 2: soft-deprecate organisations.display_name, step 2: add organisations.name, keep both in sync, fill it
--
-- Release 2 code reads name (falling back to display_name) and writes both columns.
-- Release 1 pods still running during the rolling update write only display_name;
-- the trigger below copies whichever side was written into the other.

ALTER TABLE organisations ADD COLUMN name text NULL;

CREATE FUNCTION organisations_sync_name() RETURNS trigger
    LANGUAGE plpgsql
AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        IF NEW.name IS DISTINCT FROM OLD.name THEN
            NEW.display_name := coalesce(NEW.name, NEW.display_name);
        ELSIF NEW.display_name IS DISTINCT FROM OLD.display_name THEN
            NEW.name := NEW.display_name;
        END IF;
    END IF;
    NEW.name := coalesce(NEW.name, NEW.display_name);
    NEW.display_name := coalesce(NEW.display_name, NEW.name);
    RETURN NEW;
END;
$$;

CREATE TRIGGER organisations_sync_name
    BEFORE INSERT OR UPDATE ON organisations
    FOR EACH ROW EXECUTE FUNCTION organisations_sync_name();

-- organisations holds one row per tenant, so a single UPDATE is fine here.
UPDATE organisations SET name = display_name WHERE name IS NULL;

COMMENT ON COLUMN organisations.display_name IS 'DEPRECATED: replaced by organisations.name; kept in sync by organisations_sync_name() until release 3, dropped in release 4.';
