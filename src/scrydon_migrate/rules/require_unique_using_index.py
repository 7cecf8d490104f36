"""ADD UNIQUE / PRIMARY KEY without USING INDEX builds the index under ACCESS EXCLUSIVE."""

from scrydon_migrate.lint import lock_rule

RULE_ID = "require-unique-using-index"
SUMMARY = "ADD UNIQUE / PRIMARY KEY without USING INDEX builds the index under ACCESS EXCLUSIVE"
SEVERITY = "warning"
check = lock_rule(RULE_ID)
