-- release 3: data fix: strip trailing slashes from storage locations written by the old import API
UPDATE managed_tables
SET storage_location = rtrim(storage_location, '/')
WHERE storage_location LIKE '%/'
  AND storage_location NOT LIKE '%://';
