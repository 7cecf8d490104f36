"""DO blocks, CALL and EXECUTE can't be inspected: a person must review what they lock."""

from collections.abc import Iterator

from scrydon_migrate.lint import Finding, Severity, Subject

RULE_ID = "review-dynamic-sql"
SUMMARY = "a statement whose effects can't be inspected (DO, CALL, EXECUTE): review it by hand"
SEVERITY = "info"
KINDS = frozenset({"DoStmt", "CallStmt", "ExecuteStmt"})


def check(subject: Subject) -> Iterator[Finding]:
    kind = subject.statement.kind
    yield subject.finding(
        RULE_ID,
        Severity.INFO,
        f"{kind.removesuffix('Stmt').upper()} runs code the linter can't inspect: check by hand what it locks "
        "and for how long",
        "prefer plain SQL statements; up records what it created so the desync check still covers it",
    )
