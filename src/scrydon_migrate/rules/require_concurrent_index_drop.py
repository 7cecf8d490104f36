"""DROP INDEX without CONCURRENTLY takes an ACCESS EXCLUSIVE lock on the table."""

from scrydon_migrate.lint import lock_rule

RULE_ID = "require-concurrent-index-drop"
SUMMARY = "DROP INDEX without CONCURRENTLY takes an ACCESS EXCLUSIVE lock on the table"
SEVERITY = "warning"
check = lock_rule(RULE_ID)
