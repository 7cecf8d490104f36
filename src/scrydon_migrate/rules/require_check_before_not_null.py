"""SET NOT NULL scans the whole table under ACCESS EXCLUSIVE unless a validated CHECK exists."""

from scrydon_migrate.lint import lock_rule

RULE_ID = "require-check-before-not-null"
SUMMARY = "SET NOT NULL scans the whole table under ACCESS EXCLUSIVE unless a validated CHECK exists"
SEVERITY = "warning"
check = lock_rule(RULE_ID)
