-- Only the trigger called it: no application code can be left calling a trigger function.
DROP TRIGGER organisations_sync_name ON organisations;

DROP FUNCTION organisations_sync_name();
