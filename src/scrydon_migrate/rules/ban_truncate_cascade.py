"""TRUNCATE ... CASCADE empties every table with a foreign key to it, recursively."""

from collections.abc import Iterator

from scrydon_migrate.lint import Finding, Severity, Subject

RULE_ID = "ban-truncate-cascade"
SUMMARY = "TRUNCATE ... CASCADE empties every referencing table too"
SEVERITY = "error"
KINDS = frozenset({"TruncateStmt"})


def check(subject: Subject) -> Iterator[Finding]:
    node = subject.node
    if node.behavior.name == "DROP_CASCADE":
        yield subject.finding(
            RULE_ID,
            Severity.ERROR,
            "TRUNCATE ... CASCADE also empties every table that references it, however many there are",
            "truncate the tables you mean by name, without CASCADE",
        )
