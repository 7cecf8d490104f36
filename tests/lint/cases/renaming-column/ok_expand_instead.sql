-- Expand: add the new column and keep it in sync; reads switch in the next release, the old one goes later.
ALTER TABLE model_deployments ADD COLUMN cloud_region text NULL;

CREATE FUNCTION model_deployments_sync_region() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.cloud_region := coalesce(NEW.cloud_region, NEW.region);
    RETURN NEW;
END
$$;

CREATE TRIGGER model_deployments_sync_region BEFORE INSERT OR UPDATE ON model_deployments
    FOR EACH ROW EXECUTE FUNCTION model_deployments_sync_region();
