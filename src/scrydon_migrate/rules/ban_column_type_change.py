"""ALTER COLUMN TYPE rewrites the table and its indexes under an ACCESS EXCLUSIVE lock."""

from scrydon_migrate.lint import lock_rule

RULE_ID = "ban-column-type-change"
SUMMARY = "ALTER COLUMN TYPE rewrites the table and its indexes under an ACCESS EXCLUSIVE lock"
SEVERITY = "warning"
check = lock_rule(RULE_ID)
