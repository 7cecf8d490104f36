CREATE TEMPORARY TABLE org_renames (old_name text, new_name text);

-- The scratch table above only lives for this migration.
DROP TABLE org_renames;
