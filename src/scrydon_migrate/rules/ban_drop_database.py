"""A migration never drops a database."""

from collections.abc import Iterator

from scrydon_migrate.lint import Finding, Severity, Subject

RULE_ID = "ban-drop-database"
SUMMARY = "DROP DATABASE in a migration"
SEVERITY = "error"
KINDS = frozenset({"DropdbStmt"})


def check(subject: Subject) -> Iterator[Finding]:
    yield subject.finding(
        RULE_ID,
        Severity.ERROR,
        f"DROP DATABASE {subject.node.dbname!r} in a migration deletes everything in it",
        "databases are created and dropped by the platform's provisioning, not by migrations",
    )
