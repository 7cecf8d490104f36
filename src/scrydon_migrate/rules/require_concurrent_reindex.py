"""REINDEX without CONCURRENTLY blocks writes (or reads and writes) for the whole rebuild."""

from scrydon_migrate.lint import lock_rule

RULE_ID = "require-concurrent-reindex"
SUMMARY = "REINDEX without CONCURRENTLY blocks writes (or reads and writes) for the whole rebuild"
SEVERITY = "warning"
check = lock_rule(RULE_ID)
