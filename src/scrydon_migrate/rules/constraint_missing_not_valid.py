"""ADD FOREIGN KEY / CHECK without NOT VALID scans the table while blocking writes."""

from scrydon_migrate.lint import lock_rule

RULE_ID = "constraint-missing-not-valid"
SUMMARY = "ADD FOREIGN KEY / CHECK without NOT VALID scans the table while blocking writes"
SEVERITY = "warning"
check = lock_rule(RULE_ID)
