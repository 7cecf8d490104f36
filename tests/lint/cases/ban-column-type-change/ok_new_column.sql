-- Expand step of a type change: a new column of the new type, kept in sync for new writes, backfilled.
ALTER TABLE events ADD COLUMN id_big bigint NULL;

CREATE FUNCTION events_sync_id_big() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.id_big := NEW.id;
    RETURN NEW;
END
$$;

CREATE TRIGGER events_sync_id_big BEFORE INSERT OR UPDATE ON events
    FOR EACH ROW EXECUTE FUNCTION events_sync_id_big();

-- migrate:backfill events_id_big table=events key=id
UPDATE events SET id_big = id WHERE id BETWEEN $1 AND $2 AND id_big IS NULL;
