-- migrate:allow review-dynamic-sql reason="reviewed: one BEFORE UPDATE trigger per table created in release 1; none has rows yet"
DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['organisations', 'users', 'workspaces'] LOOP
        EXECUTE format('CREATE TRIGGER %I BEFORE UPDATE ON %I FOR EACH ROW EXECUTE FUNCTION set_updated_at()',
                       t || '_set_updated_at', t);
    END LOOP;
END
$$;
