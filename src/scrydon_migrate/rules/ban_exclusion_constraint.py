"""ADD CONSTRAINT ... EXCLUDE on an existing table builds its index under ACCESS EXCLUSIVE."""

from scrydon_migrate.lint import lock_rule

RULE_ID = "ban-exclusion-constraint"
SUMMARY = "ADD CONSTRAINT ... EXCLUDE on an existing table builds its index under ACCESS EXCLUSIVE"
SEVERITY = "warning"
check = lock_rule(RULE_ID)
