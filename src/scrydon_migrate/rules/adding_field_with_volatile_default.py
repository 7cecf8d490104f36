"""ADD COLUMN with a volatile default, serial, identity or stored generated column rewrites the table."""

from scrydon_migrate.lint import lock_rule

RULE_ID = "adding-field-with-volatile-default"
SUMMARY = "ADD COLUMN with a volatile default, serial, identity or stored generated column rewrites the table"
SEVERITY = "warning"
check = lock_rule(RULE_ID)
