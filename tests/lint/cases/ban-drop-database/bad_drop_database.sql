-- The old analytics database was merged into this one.
DROP DATABASE IF EXISTS analytics_legacy;
