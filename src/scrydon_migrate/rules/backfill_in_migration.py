"""An UPDATE or DELETE of every row belongs in a background backfill, not in a schema migration."""

from scrydon_migrate.lint import lock_rule

RULE_ID = "backfill-in-migration"
SUMMARY = "UPDATE / DELETE without WHERE on an existing table inside a schema migration"
SEVERITY = "warning"
check = lock_rule(RULE_ID)
