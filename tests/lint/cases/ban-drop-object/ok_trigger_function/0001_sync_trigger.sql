CREATE FUNCTION organisations_sync_name() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.name := coalesce(NEW.name, NEW.display_name);
    RETURN NEW;
END
$$;

CREATE TRIGGER organisations_sync_name BEFORE INSERT OR UPDATE ON organisations
    FOR EACH ROW EXECUTE FUNCTION organisations_sync_name();
