"""A file mixing CONCURRENTLY-style statements with ordinary ones runs statement by statement, not atomically."""

from collections.abc import Iterator

from scrydon_migrate.lint import Finding, Severity, Subject

RULE_ID = "mixed-transaction-mode"
SUMMARY = "statements that cannot run in a transaction mixed with ones that can, in one migration"
SEVERITY = "warning"
SCOPE = "migration"


def check(subject: Subject) -> Iterator[Finding]:
    runnable = subject.migration.runnable
    outside = [s for s in runnable if not s.transactional]
    inside = [s for s in runnable if s.transactional]
    if outside and inside:
        first = outside[0]
        yield subject.finding(
            RULE_ID,
            Severity.WARNING,
            f"{first.kind} on line {first.line} cannot run in a transaction, so the whole migration runs "
            f"statement by statement: its {len(inside)} other statement(s) are not applied atomically",
            "put the CONCURRENTLY / VACUUM statements in a migration of their own, marked -- migrate:no-transaction",
        )
