"""A NOT VALID constraint validated in the same transaction gains nothing: the scan still blocks writes."""

from collections.abc import Iterator

from scrydon_migrate.lint import Finding, Severity, Subject
from scrydon_migrate.rules._nodes import alter_commands
from scrydon_migrate.source import Migration

RULE_ID = "validate-in-same-transaction"
SUMMARY = "ADD CONSTRAINT ... NOT VALID and VALIDATE CONSTRAINT in the same transactional migration"
SEVERITY = "warning"
KINDS = frozenset({"AlterTableStmt"})


def relevant(migration: Migration) -> bool:
    """Only a transactional migration that adds a constraint NOT VALID can validate it in the same transaction."""
    return migration.transactional and any(s.locks.not_valid_constraints for s in migration.statements)


def check(subject: Subject) -> Iterator[Finding]:
    if not subject.migration.transactional:
        return
    for table, cmd in alter_commands(subject.node, "AT_ValidateConstraint"):
        if cmd.name in _added_not_valid(subject):
            yield subject.finding(
                RULE_ID,
                Severity.WARNING,
                f"constraint {cmd.name!r} is added NOT VALID and validated in the same transaction: the "
                "ADD's lock (which blocks writes) is held during the whole validation scan",
                "validate it in a later migration: the validation then takes only SHARE UPDATE EXCLUSIVE",
                f"-- in the next migration:\nALTER TABLE {table.display if table else '<table>'} "
                f"VALIDATE CONSTRAINT {cmd.name};",
                at=subject.command_at(cmd),
            )


def _added_not_valid(subject: Subject) -> set[str]:
    return {name for s in subject.earlier_of_kind("AlterTableStmt") for name in s.locks.not_valid_constraints}
