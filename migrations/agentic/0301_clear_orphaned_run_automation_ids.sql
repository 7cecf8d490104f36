-- release 3: data fix: clear automation_id on runs whose automation was deleted before the FK existed
-- Only rows written before release 2 can be orphaned (the NOT VALID FK checks every newer write),
-- and only the handful of orphans are rewritten.
UPDATE workflow_runs r
SET automation_id = NULL
WHERE r.automation_id IS NOT NULL
  AND NOT EXISTS (SELECT 1 FROM automations a WHERE a.id = r.automation_id);
