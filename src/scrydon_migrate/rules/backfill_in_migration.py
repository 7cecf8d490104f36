"""An UPDATE or DELETE of every row belongs in a background backfill, not in a schema migration."""

from collections.abc import Iterator

from scrydon_migrate.lint import Finding, Severity, Subject
from scrydon_migrate.rules._nodes import relation

RULE_ID = "backfill-in-migration"
SUMMARY = "UPDATE / DELETE without WHERE on an existing table inside a schema migration"
SEVERITY = "warning"


def check(subject: Subject) -> Iterator[Finding]:
    node = subject.node
    if type(node).__name__ not in ("UpdateStmt", "DeleteStmt") or not subject.statement.runnable:
        return
    table = relation(node.relation)
    if getattr(node, "whereClause", None) is not None or subject.is_new(table):
        return
    size = subject.sizes.get(table) if table else None
    large = size is not None and subject.thresholds is not None and subject.thresholds.is_large(size)
    verb = "UPDATE" if type(node).__name__ == "UpdateStmt" else "DELETE"
    yield subject.finding(
        RULE_ID,
        Severity.ERROR if large else Severity.WARNING,
        f"{verb} of every row of {table.display if table else 'the table'!r} in one transaction locks all its "
        "rows until the migration commits" + (f" (table is {size.describe()})" if size else ""),
        "declare a background backfill instead: -- migrate:backfill <name> table=<t> key=<pk>, with the "
        "statement limited to one key range (WHERE <pk> BETWEEN $1 AND $2)",
    )
