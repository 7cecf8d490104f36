"""A column may be dropped only in a later release than the one that stopped using it."""

from collections.abc import Iterator

from scrydon_migrate.lint import Finding, Severity, Subject
from scrydon_migrate.rules._nodes import alter_commands

RULE_ID = "ban-drop-column"
SUMMARY = "DROP COLUMN without a prior '-- migrate:stops-using' step in an earlier release"
SEVERITY = "warning"
KINDS = frozenset({"AlterTableStmt"})


def check(subject: Subject) -> Iterator[Finding]:
    for table, cmd in alter_commands(subject.node, "AT_DropColumn"):
        if table is None or subject.is_new(table):
            continue
        target = f"{table.name}.{cmd.name}"
        marked = [
            m
            for m in (*subject.history, subject.migration)
            if any(d.name == "stops-using" and d.args.strip() == target for d in m.directives)
        ]
        releases = subject.releases
        this_release = releases.of(subject.migration.version) if releases else None
        earlier = [m for m in marked if releases and (releases.of(m.version) or -1) < (this_release or -1)]
        if earlier:
            continue
        if marked:
            where = releases.name(this_release) if releases else "this release"
            yield subject.finding(
                RULE_ID,
                Severity.ERROR,
                f"column {target!r} is dropped in the same release ({where}) that stopped using it: pods of the "
                "previous release still read it during the rolling update",
                "move the DROP COLUMN to a migration of the next release",
                at=subject.command_at(cmd),
            )
        else:
            yield subject.finding(
                RULE_ID,
                Severity.WARNING,
                f"column {target!r} is dropped without a prior step marking it unused "
                f"(-- migrate:stops-using {target}) in an earlier release",
                "deprecate it over releases: scrydon-migrate new deprecate-column writes the steps",
                at=subject.command_at(cmd),
            )
