"""VACUUM FULL, CLUSTER, SET TABLESPACE and SET LOGGED/UNLOGGED rewrite the table under ACCESS EXCLUSIVE."""

from scrydon_migrate.lint import lock_rule

RULE_ID = "ban-table-rewrite"
SUMMARY = "VACUUM FULL, CLUSTER, SET TABLESPACE and SET LOGGED/UNLOGGED rewrite the table under ACCESS EXCLUSIVE"
SEVERITY = "warning"
check = lock_rule(RULE_ID)
