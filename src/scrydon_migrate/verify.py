"""Tracking desync: does the schema contain what the tracking table says was applied?

:func:`classify` is pure. It replays the effects of the applied migrations (skipped
and failed ones take no part), compares each migration's expected objects with
the catalog snapshot, and classifies the whole as

* ``healthy`` — nothing expected is missing;
* ``repairable`` — the migrations whose objects are all gone form a contiguous
  tail of the applied sequence, none is partly present, and nothing in that tail
  wrote to rows of a table that still exists, so re-applying them cannot conflict
  with existing data;
* ``partial`` — some migration's objects partly exist, or the tail cannot be proven
  harmless to re-apply;
* ``non-contiguous`` — a migration whose objects are gone is followed by one whose
  objects exist.

Only ``repairable`` is ever repaired, and only with ``MIGRATE_REPAIR_TRACKING=1``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING

from scrydon_migrate import catalog, effects, tracking
from scrydon_migrate.effects import Op
from scrydon_migrate.errors import TrackingDesync
from scrydon_migrate.tracking import Status, TrackedRow

if TYPE_CHECKING:
    import psycopg

    from scrydon_migrate.source import MigrationFile

RUNBOOK_FATAL = (
    "the migration tracking table is out of sync with the actual database schema — it claims migrations "
    "are applied whose objects do not exist. This is a tracking desync, not a migration bug."
)


class State(StrEnum):
    PRESENT = "present"
    ABSENT = "absent"
    PARTIAL = "partial"
    UNCHECKED = "nothing-to-check"


class Kind(StrEnum):
    HEALTHY = "healthy"
    REPAIRABLE = "repairable"
    PARTIAL = "partial"
    NON_CONTIGUOUS = "non-contiguous"


@dataclass(frozen=True, slots=True)
class AppliedMigration:
    """An applied migration and what it did (``known`` is False when no record of its effects exists)."""

    version: int
    label: str
    ops: tuple[Op, ...]
    known: bool = True


@dataclass(frozen=True, slots=True)
class Verdict:
    version: int
    label: str
    state: State
    expected: frozenset[str]
    missing: frozenset[str]


@dataclass(frozen=True, slots=True)
class Classification:
    kind: Kind
    verdicts: tuple[Verdict, ...]
    rewind_from: Verdict | None = None
    reasons: tuple[str, ...] = field(default_factory=tuple)

    @property
    def rewind_versions(self) -> tuple[int, ...]:
        if self.rewind_from is None:
            return ()
        return tuple(v.version for v in self.verdicts if v.version >= self.rewind_from.version)


def _verdict(migration: AppliedMigration, expected: set[str], present: set[str]) -> Verdict:
    missing = expected - present
    if not expected:
        state = State.UNCHECKED
    elif not missing:
        state = State.PRESENT
    elif missing == expected:
        state = State.ABSENT
    else:
        state = State.PARTIAL
    return Verdict(migration.version, migration.label, state, frozenset(expected), frozenset(missing))


def classify(applied: Sequence[AppliedMigration], present: set[str]) -> Classification:
    """Classify the applied migrations (in version order) against the keys ``present`` in the catalog."""
    ordered = sorted(applied, key=lambda m: m.version)
    model = effects.Model()
    for migration in ordered:
        model.apply(migration.version, migration.ops)
    footprints = model.footprints()
    verdicts = tuple(_verdict(m, footprints.get(m.version, set()), present) for m in ordered)
    partial = [v for v in verdicts if v.state is State.PARTIAL]
    absent = [i for i, v in enumerate(verdicts) if v.state is State.ABSENT]
    if not partial and not absent:
        return Classification(Kind.HEALTHY, verdicts)
    if partial:
        return Classification(Kind.PARTIAL, verdicts)
    first = absent[0]
    later_present = [v for v in verdicts[first:] if v.state is State.PRESENT]
    if later_present:
        return Classification(
            Kind.NON_CONTIGUOUS,
            verdicts,
            reasons=tuple(
                f"{verdicts[first].label} has no objects left, but the later {v.label} has all of its objects"
                for v in later_present[:3]
            ),
        )
    unsafe = _unsafe_to_reapply(ordered[first:], present, model)
    if unsafe:
        return Classification(Kind.PARTIAL, verdicts, reasons=tuple(unsafe))
    return Classification(Kind.REPAIRABLE, verdicts, rewind_from=verdicts[first])


def _unsafe_to_reapply(tail: Sequence[AppliedMigration], present: set[str], model: effects.Model) -> list[str]:
    """Why re-applying the tail could conflict with what exists; empty when it provably cannot.

    A write is harmless only to a table that a tail migration really created (it owns the
    table in the replayed model), not one a ``CREATE TABLE IF NOT EXISTS`` found existing.
    """
    tail_versions = {m.version for m in tail}
    created_in_tail = {k for k, v in model.owner.items() if v in tail_versions and k.startswith("table:")}
    reasons = []
    for migration in tail:
        if not migration.known:
            reasons.append(f"{migration.label} has no record of what it did, so re-applying it is not provably safe")
            continue
        if effects.is_opaque(migration.ops):
            reasons.append(f"{migration.label} ran code whose effects were not recorded (a DO block or function call)")
        surviving = sorted(t for t in effects.writes(migration.ops) if t in present and t not in created_in_tail)
        if surviving:
            reasons.append(
                f"{migration.label} wrote to rows of {', '.join(_plain(t) for t in surviving)}, which still exists"
            )
    return reasons


def _plain(object_key: str) -> str:
    kind, _, name = object_key.partition(":")
    return f"{kind} {name}"


_KIND_ORDER = (
    "schema",
    "table",
    "view",
    "matview",
    "type",
    "function",
    "sequence",
    "extension",
    "index",
    "constraint",
    "trigger",
    "column",
    "enumvalue",
)


def _some(keys: frozenset[str] | set[str], limit: int = 4) -> str:
    """The most telling keys first: a table, not its columns (which are counted with it)."""
    tables = {k for k in keys if k.startswith("table:")}
    children = {k for k in keys if effects.parent_table(k) in tables}
    shown_keys = sorted(
        keys - children,
        key=lambda k: (_KIND_ORDER.index(k.partition(":")[0]) if k.partition(":")[0] in _KIND_ORDER else 99, k),
    )
    parts = []
    for k in shown_keys[:limit]:
        owned = sum(1 for c in children if effects.parent_table(c) == k)
        parts.append(_plain(k) + (f" (with its {owned} columns, constraints and indexes)" if owned else ""))
    extra = len(shown_keys) - limit
    return ", ".join(parts) + (f" (+{extra} more)" if extra > 0 else "")


def evidence(result: Classification) -> list[str]:
    """One line per migration whose objects are missing, then the reasons."""
    lines = [
        f"{v.label}: {v.state.value}; missing {_some(v.missing)}"
        + (f"; still present {_some(v.expected - v.missing)}" if v.state is State.PARTIAL else "")
        for v in result.verdicts
        if v.state in (State.ABSENT, State.PARTIAL)
    ]
    return lines + list(result.reasons)


def advice(result: Classification) -> str:
    """The runbook's next step: the rewind offer only when provably repairable."""
    if result.kind is Kind.REPAIRABLE and result.rewind_from is not None:
        return f"Re-run with MIGRATE_REPAIR_TRACKING=1 to rewind tracking from {result.rewind_from.label}."
    return (
        f"The state is {result.kind.value}, so the auto-repair refuses to run by design — "
        "contact support before touching the tracking table manually."
    )


def applied_migrations(
    conn: psycopg.Connection,
    table: str,
    files: Sequence[MigrationFile],
    rows: Mapping[int, TrackedRow],
) -> list[AppliedMigration]:
    """The applied rows with their effects: as recorded, else derived from the file or the stored SQL."""
    by_version = {f.version: f for f in files}
    applied = []
    schema: str | None = None
    for version, row in sorted(rows.items()):
        if row.status is not Status.APPLIED:
            continue
        migration_file = by_version.get(version)
        label = f"{migration_file.version_text if migration_file else version} ({row.file or 'no file'})"
        ops = effects.from_json(row.effects)
        if ops is None:
            schema = schema or _tracking_schema(conn, table)
            ops = _derived(conn, table, row, migration_file, schema)
        applied.append(AppliedMigration(version, label, ops or (), known=ops is not None))
    return applied


def _tracking_schema(conn: psycopg.Connection, table: str) -> str:
    return tracking.qualified(conn, table).split(".", 1)[0]


def _derived(
    conn: psycopg.Connection, table: str, row: TrackedRow, migration_file: MigrationFile | None, schema: str
) -> tuple[Op, ...] | None:
    """Effects of a row applied without a record (older rows): from its SQL, parsed now."""
    from scrydon_migrate.analysis import ParseFailure, parse_statements

    text = tracking.read_sql(conn, table, row.version)
    if text is None and migration_file is not None and migration_file.content_sha256 == row.content_sha256:
        text = migration_file.path.read_text(encoding="utf-8", errors="replace")
    if text is None:
        return None
    try:
        statements = [s.text for s in parse_statements(text) if not s.transaction_control]
    except ParseFailure:
        return None
    return tuple(effects.derive_sql(statements, schema))


def check(
    conn: psycopg.Connection,
    table: str,
    files: Sequence[MigrationFile],
    rows: Mapping[int, TrackedRow],
) -> Classification:
    """Classify the service's tracking against its live schema: one catalog round trip."""
    applied = applied_migrations(conn, table, files, rows)
    if not applied:
        return Classification(Kind.HEALTHY, ())
    return classify(applied, catalog.snapshot(conn))


def desync_error(service: str, result: Classification) -> TrackingDesync:
    missing = [v for v in result.verdicts if v.state in (State.ABSENT, State.PARTIAL)]
    return TrackingDesync(
        RUNBOOK_FATAL,
        details=evidence(result),
        hint=advice(result),
        service=service,
        kind=result.kind.value,
        missing_versions=[v.version for v in missing],
        rewind_from=result.rewind_from.version if result.rewind_from else None,
    )
