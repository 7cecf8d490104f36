"""VACUUM FULL, CLUSTER, SET TABLESPACE, SET LOGGED/UNLOGGED and SET EXPRESSION rewrite the table."""

from scrydon_migrate.lint import lock_rule

RULE_ID = "ban-table-rewrite"
SUMMARY = "VACUUM FULL, CLUSTER, SET TABLESPACE, SET LOGGED/UNLOGGED, SET EXPRESSION rewrite under ACCESS EXCLUSIVE"
SEVERITY = "warning"
check = lock_rule(RULE_ID)
