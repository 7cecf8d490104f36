-- release 2: data fix: normalise UTC spellings written by the early schedule editor
-- automation_schedules has one row per scheduled automation, so this touches very few rows.
UPDATE automation_schedules
SET timezone = 'UTC'
WHERE timezone IN ('', 'utc', 'Etc/UTC', 'Etc/GMT', 'GMT', 'Z');
