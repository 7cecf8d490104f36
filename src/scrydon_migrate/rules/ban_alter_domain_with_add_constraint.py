"""ALTER DOMAIN ... ADD / VALIDATE CONSTRAINT scans every column of the domain while blocking writes."""

from scrydon_migrate.lint import lock_rule

RULE_ID = "ban-alter-domain-with-add-constraint"
SUMMARY = "ALTER DOMAIN ... ADD / VALIDATE CONSTRAINT scans every column of the domain while blocking writes"
SEVERITY = "warning"
check = lock_rule(RULE_ID)
