"""DETACH PARTITION without CONCURRENTLY locks the whole partitioned table against reads and writes."""

from scrydon_migrate.lint import lock_rule

RULE_ID = "require-concurrent-partition-detach"
SUMMARY = "DETACH PARTITION without CONCURRENTLY locks the whole partitioned table against reads and writes"
SEVERITY = "warning"
check = lock_rule(RULE_ID)
