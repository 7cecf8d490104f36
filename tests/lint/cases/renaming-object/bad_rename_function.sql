ALTER FUNCTION workspace_usage_summary(bigint) RENAME TO workspace_usage_report;
