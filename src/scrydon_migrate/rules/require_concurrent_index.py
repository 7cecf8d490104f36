"""CREATE INDEX without CONCURRENTLY on an existing table blocks writes for the whole build."""

from scrydon_migrate.lint import lock_rule

RULE_ID = "require-concurrent-index"
SUMMARY = "CREATE INDEX without CONCURRENTLY on an existing table blocks writes for the whole build"
SEVERITY = "warning"
check = lock_rule(RULE_ID)
