DROP FUNCTION workspace_usage_summary(bigint);
