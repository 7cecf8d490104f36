"""Tracking desync: does the schema contain what the tracking table says was applied?

The evidence is the effects record of each tracking row (:mod:`scrydon_migrate.record`): what
PostgreSQL reported the migration created, dropped, renamed, altered and wrote. Replaying the
records in version order gives each migration's *footprint*, the objects it created that no later
migration dropped or renamed; the footprints are compared with the catalog, read in the same
snapshot as the tracking rows (one statement). The whole is classified as

* ``healthy`` — nothing expected is missing;
* ``repairable`` — the migrations whose objects are all gone form a contiguous tail, and the record
  proves that re-applying the tail cannot conflict with what exists: every tail migration was
  recorded completely, did nothing but create objects (or change objects the tail itself created),
  all of those objects are absent now, and it wrote rows only to tables the tail created;
* ``partial`` — some migration's objects partly exist, or the tail is not provably safe to re-apply
  (the reasons name the migration and the recorded step);
* ``non-contiguous`` — a migration whose objects are gone is followed by one whose objects exist.

Rows applied, or journaled and ``running``/``failed`` with some statements committed, take part;
skipped rows (the runbook's manual skip) never do. Rows written before effects were recorded hold
a static *prediction* (record version 1, :mod:`scrydon_migrate.effects`), which missed what
PostgreSQL drops and renames implicitly: such a row is trusted only as far as the schema confirms it
(its predicted objects that exist), and the first ``up`` that takes the lock stores exactly that as
its record (source ``predicted``), checked from then on like any other; it never proves a repair safe.

What the check cannot see: a migration that only changed
data (its rows are not objects), and objects outside the catalog module's vocabulary (grants,
comments, roles, publications).

Only ``repairable`` is ever repaired, and only with ``MIGRATE_REPAIR_TRACKING=1``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING

from scrydon_migrate import catalog, effects, startup, tracking
from scrydon_migrate.errors import RefusedError, TrackingDesync
from scrydon_migrate.record import Altered, Created, Dropped, Record, Renamed, Source, Step, Wrote, as_column
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
    """A migration the tracking table counts as (partly) done, and its record (``None``: none exists)."""

    version: int
    label: str
    record: Record | None
    status: Status = Status.APPLIED


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


#: Keys whose shape, stored by earlier releases, is no longer expected: an extension's version changes
#: with the DBA's ``ALTER EXTENSION ... UPDATE`` (the step pg_upgrade prescribes) and with a dump restored
#: on a newer major (``pg_dump`` names no version), neither of which is a desync.
_UNSHAPED = ("extension:",)


def footprints(applied: Sequence[AppliedMigration]) -> dict[int, set[str]]:
    """What each migration left that should still be so: the objects it created, not dropped or renamed
    since; (as ``key#shape``) the state it left an object in, not changed since; and (as ``!key``) the
    absence of what its recorded steps dropped or renamed away, not created again since.

    Absences come from records read from PostgreSQL only: a prediction's drops were never confirmed.
    """
    owner: dict[str, int] = {}
    shaped: dict[str, tuple[int, str]] = {}
    gone: dict[str, int] = {}
    for migration in applied:
        record = migration.record
        for step in record.steps if record else ():
            if isinstance(step, Created | Altered):
                if isinstance(step, Created):
                    owner[step.key] = migration.version
                    gone.pop(step.key, None)
                shaped.pop(step.key, None)
                if step.shape and not step.key.startswith(_UNSHAPED):
                    shaped[step.key] = (migration.version, step.shape)
            elif isinstance(step, Dropped | Renamed):
                old = step.key if isinstance(step, Dropped) else step.old
                owner.pop(old, None)
                shaped.pop(old, None)
                if record is not None and record.source == "recorded":
                    gone[old] = migration.version
                if isinstance(step, Renamed):
                    owner[step.new] = migration.version
                    gone.pop(step.new, None)
    found: dict[int, set[str]] = {}
    for key, version in owner.items():
        found.setdefault(version, set()).add(key)
    for key, (version, shape) in shaped.items():
        found.setdefault(version, set()).add(f"{key}#{shape}")
    for key, version in gone.items():
        found.setdefault(version, set()).add(f"!{key}")
    return found


def _holds(expectation: str, present: set[str]) -> bool:
    """``key`` exists, ``key#shape`` is in that state, ``!key`` does not exist."""
    if expectation.startswith("!"):
        return expectation[1:] not in present
    return expectation in present


def _verdict(migration: AppliedMigration, expected: set[str], present: set[str]) -> Verdict:
    """The migration's state from its expectations. What it made (objects, shapes) is the evidence that it
    ran; what it dropped still existing is evidence that it did not, but nothing being there proves nothing
    (an absent tail never made it)."""
    missing = {e for e in expected if not _holds(e, present)}
    made = {e for e in expected if not e.startswith("!")}
    made_missing = missing & made
    if not missing:
        state = State.PRESENT if made else State.UNCHECKED
    elif made_missing == made:
        state = State.ABSENT
    else:
        state = State.PARTIAL
    return Verdict(migration.version, migration.label, state, frozenset(expected), frozenset(missing))


def classify(applied: Sequence[AppliedMigration], present: set[str]) -> Classification:
    """Classify the migrations (in version order) against the keys ``present`` in the catalog."""
    ordered = sorted(applied, key=lambda m: m.version)
    expected = footprints(ordered)
    verdicts = tuple(_verdict(m, expected.get(m.version, set()), present) for m in ordered)
    partial = [v for v in verdicts if v.state is State.PARTIAL]
    absent = [i for i, v in enumerate(verdicts) if v.state is State.ABSENT]
    if not partial and not absent:
        return Classification(Kind.HEALTHY, verdicts)
    if partial:
        return Classification(Kind.PARTIAL, verdicts)
    first = _tail_start(ordered, verdicts, absent[0])
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
    unsafe = unsafe_to_reapply(ordered[first:], present)
    if unsafe:
        return Classification(Kind.PARTIAL, verdicts, reasons=tuple(unsafe))
    return Classification(Kind.REPAIRABLE, verdicts, rewind_from=verdicts[first])


def _tail_start(ordered: Sequence[AppliedMigration], verdicts: Sequence[Verdict], first_absent: int) -> int:
    """Where the desync tail starts: the migrations right before the first absent one whose record holds
    no step at all (a COMMENT, a GRANT) may be as falsely tracked as it is, so they are rewound with it.

    One that created, dropped or wrote something is not: what it dropped is gone either way, and
    re-running its writes is not safe (the check cannot see a data-only migration, as the README says).
    """
    first = first_absent
    while first > 0 and verdicts[first - 1].state is State.UNCHECKED and _left_no_step(ordered[first - 1]):
        first -= 1
    return first


def _left_no_step(migration: AppliedMigration) -> bool:
    record = migration.record
    return (
        record is not None
        and record.source == "recorded"
        and record.complete
        and not record.steps
        and not record.unrecorded
    )


def unsafe_to_reapply(tail: Sequence[AppliedMigration], present: set[str]) -> list[str]:
    """Why re-applying ``tail`` is not proven safe by its record; empty when it is."""
    reasons: list[str] = []
    created: set[str] = set()
    for migration in tail:
        reason = _unprovable(migration) or _first_unsafe_step(migration, created, present)
        if reason:
            reasons.append(reason)
    return reasons


def _unprovable(migration: AppliedMigration) -> str:
    record = migration.record
    if migration.status is not Status.APPLIED:
        return f"{migration.label} is {migration.status.value}: only part of it ran"
    if record is None:
        return f"{migration.label} has no record of what it did, so re-applying it is not provably safe"
    if record.source != "recorded":
        return (
            f"{migration.label} was applied before effects were recorded from PostgreSQL ({record.source}), "
            "so re-applying it is not provably safe"
        )
    if not record.complete:
        return f"{migration.label} ran statements outside a transaction whose row writes could not be recorded"
    if record.unrecorded:
        return (
            f"{migration.label} changed objects the desync check does not record ({', '.join(record.unrecorded)}), "
            "so re-applying it is not provably safe"
        )
    return ""


def _first_unsafe_step(migration: AppliedMigration, created: set[str], present: set[str]) -> str:
    """The first recorded step that makes re-applying unsafe; ``created`` gathers the tail's creations."""
    assert migration.record is not None
    for step in migration.record.steps:
        problem = _step_problem(step, created, present)
        if problem:
            return f"{migration.label} {problem}"
        if isinstance(step, Created):
            created.add(step.key)
        elif isinstance(step, Renamed):
            created.add(step.new)
    return ""


def _step_problem(step: Step, created: set[str], present: set[str]) -> str:
    if isinstance(step, Created):
        return f"created {_plain(step.key)}, which exists now" if step.key in present else ""
    if isinstance(step, Dropped):
        return "" if step.key in created else f"dropped {_plain(step.key)}, which an earlier migration created"
    if isinstance(step, Renamed):
        if step.old not in created:
            return f"renamed {_plain(step.old)} (created by an earlier migration) to {step.new.partition(':')[2]}"
        return (
            f"renamed {_plain(step.old)} to {step.new.partition(':')[2]}, which exists now"
            if (step.new in present)
            else ""
        )
    if isinstance(step, Altered):
        return "" if step.key in created else f"altered {_plain(step.key)}, which an earlier migration created"
    if isinstance(step, Wrote):
        what = "replaced the rows of" if step.replaced else "wrote to rows of"
        if step.table in present:
            return f"{what} {_plain(step.table)}, which still exists"
        return "" if step.table in created else f"{what} {_plain(step.table)}, which it did not create"
    return ""


def _plain(object_key: str) -> str:
    """``table public.t``; a ``key#shape`` expectation reads as the object in the state a migration left
    it, a ``!key`` one as the drop (the object exists again)."""
    kind, _, name = object_key.removeprefix("!").partition(":")
    name, shaped, _ = name.partition("#")
    if object_key.startswith("!"):
        return f"the drop of {kind} {name} (it exists)"
    return f"{kind} {name}" + (" as that migration left it" if shaped else "")


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
    "policy",
    "rule",
    "statistics",
    "column",
    "attribute",
    "enumvalue",
)


def _parent_table(object_key: str) -> str | None:
    mark = "!" if object_key.startswith("!") else ""
    kind, _, rest = object_key.removeprefix("!").partition(":")
    if kind not in ("column", "constraint", "index", "trigger", "policy", "rule"):
        return None
    parts = rest.split(".")
    return f"{mark}table:{parts[0]}.{parts[1]}" if len(parts) >= 3 else None


def _some(keys: frozenset[str] | set[str], limit: int = 4) -> str:
    """The most telling keys first: a table, not its columns (which are counted with it)."""
    tables = {k for k in keys if k.removeprefix("!").startswith("table:")}
    children = {k for k in keys if _parent_table(k) in tables}
    shown_keys = sorted(keys - children, key=_kind_rank)
    parts = []
    for k in shown_keys[:limit]:
        owned = sum(1 for c in children if _parent_table(c) == k)
        parts.append(_plain(k) + (f" (with its {owned} columns, constraints and indexes)" if owned else ""))
    extra = len(shown_keys) - limit
    return ", ".join(parts) + (f" (+{extra} more)" if extra > 0 else "")


def _kind_rank(key: str) -> tuple[int, str]:
    kind = key.removeprefix("!").partition(":")[0]
    return (_KIND_ORDER.index(kind) if kind in _KIND_ORDER else 99, key)


def evidence(result: Classification) -> list[str]:
    """One line per migration whose objects are missing, then the reasons."""
    lines = [
        f"{v.label}: {v.state.value}; missing {_some(v.missing)}"
        + (f"; still present {_some(v.expected - v.missing)}" if v.state is State.PARTIAL else "")
        for v in result.verdicts
        if v.state in (State.ABSENT, State.PARTIAL)
    ]
    return lines + list(result.reasons)


def advice(result: Classification, service: str | None = None) -> str:
    """The runbook's next step: the rewind offer only when provably repairable, with the chart's key for it."""
    if result.kind is Kind.REPAIRABLE and result.rewind_from is not None:
        offer = f"Re-run with MIGRATE_REPAIR_TRACKING=1 to rewind tracking from {result.rewind_from.label}."
        if service is None:
            return offer
        from scrydon_migrate.config import values_key

        return (
            f"{offer} With Helm: set {values_key(service)}.migration.repairTracking: true for this one upgrade, "
            "re-run helm upgrade, then set it back to false."
        )
    return (
        f"The state is {result.kind.value}, so the auto-repair refuses to run by design — "
        "contact support before touching the tracking table manually."
    )


@dataclass(frozen=True, slots=True)
class TrackedState:
    """The tracking rows and the catalog's keys, read in one snapshot."""

    table: str
    rows: dict[int, TrackedRow] | None
    present: set[str]
    #: The tracking rows' digest in the same snapshot (what the start-up check compares), if read.
    rows_digest: str | None = None

    def classify(self, files: Sequence[MigrationFile]) -> Classification:
        applied = applied_migrations(files, self.rows or {}, self.present)
        if not applied:
            return Classification(Kind.HEALTHY, ())
        return classify(applied, self.present)


def read(conn: psycopg.Connection, table: str) -> TrackedState:
    """The tracking rows of ``table`` and the catalog, in one statement (so one snapshot)."""
    import psycopg
    from psycopg import sql
    from psycopg.rows import tuple_row

    schema, _, name = table.rpartition(".")
    query = sql.SQL(catalog.ROWS_AND_KEYS).format(
        digest=sql.SQL(startup.ROWS_DIGEST),
        nulls=sql.SQL(", ").join(sql.SQL("NULL AS {}").format(sql.Identifier(c)) for c in tracking.COLUMNS),
        columns=sql.SQL(", ").join(sql.Identifier("t", c) for c in tracking.COLUMNS),
        table=sql.SQL("{} AS t").format(tracking.table_identifier(table)),
    )
    tool = {"schema": schema or _schema_of(conn, table), "table": name}
    try:
        with conn.cursor(row_factory=tuple_row) as cur:
            cur.execute(query, tool)
            records = cur.fetchall()
            types = {d.name: d.type_code for d in (cur.description or ())[3:]}
    except psycopg.errors.UndefinedTable:
        return TrackedState(table, None, set())
    except psycopg.errors.UndefinedColumn:
        return _read_older_table(conn, table, tool)
    keys = next(r for r in records if r[0] is not None)
    present = catalog.stated(keys[0], keys[1])
    rows = tracking.rows_from(conn, table, [r[3:] for r in records if r[0] is None], types)
    return TrackedState(table, rows, present, keys[2])


def _read_older_table(conn: psycopg.Connection, table: str, tool: dict[str, str]) -> TrackedState:
    """A tracking table made by an older release lacks columns: rows and catalog in one read-only snapshot."""
    with conn.transaction():
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        rows = tracking.read_rows(conn, table)
        record = conn.execute(catalog.ALL_KEYS, tool).fetchone()
    return TrackedState(table, rows, catalog.stated(record[0], record[1]) if record else set())


def _schema_of(conn: psycopg.Connection, table: str) -> str:
    """The schema an unqualified tracking table name resolves to (not where a migration points search_path)."""
    return tracking.resolve(conn, table).rpartition(".")[0]


def applied_migrations(
    files: Sequence[MigrationFile], rows: Mapping[int, TrackedRow], present: set[str]
) -> list[AppliedMigration]:
    """The rows that claim objects, with their records: recorded, or predicted for older rows."""
    by_version = {f.version: f for f in files}
    applied = []
    legacy: list[tuple[int, tuple[effects.Op, ...]]] = []
    for version, row in sorted(rows.items()):
        if not _takes_part(row):
            continue
        migration_file = by_version.get(version)
        label = f"{migration_file.version_text if migration_file else version} ({row.file or 'no file'})"
        record = Record.from_json(row.effects)
        ops = effects.from_json(row.effects) if record is None else None
        if ops is not None:
            legacy.append((version, ops))
        applied.append(AppliedMigration(version, label, record, row.status))
    if legacy:
        predicted = {v: r.confirmed_by(present) for v, r in effects.predicted_records(legacy, present).items()}
        applied = [AppliedMigration(m.version, m.label, predicted.get(m.version, m.record), m.status) for m in applied]
    return applied


def store_confirmed_predictions(conn: psycopg.Connection, state: TrackedState, files: Sequence[MigrationFile]) -> int:
    """Replace the rows' version-1 predictions by the records the schema confirms (under the lock)."""
    legacy = {v for v, row in (state.rows or {}).items() if Record.from_json(row.effects) is None and row.effects}
    if not legacy:
        return 0
    for migration in applied_migrations(files, state.rows or {}, state.present):
        if migration.version in legacy and migration.record is not None:
            tracking.update(conn, state.table, migration.version, {"effects": as_column(migration.record)})
    return len(legacy)


def rebaselined(
    state: TrackedState, files: Sequence[MigrationFile], versions: Sequence[int], source: Source = "rebaselined"
) -> dict[int, Record]:
    """Records for ``versions`` that expect exactly what exists of their footprint now (support's way out).

    A migration with no record at all (a row adopted or inserted by hand) gets every object that
    exists and that no other migration's footprint holds. The records never prove a repair safe.
    """
    applied = applied_migrations(files, state.rows or {}, state.present)
    expected = footprints(applied)
    by_version = {m.version: m for m in applied}
    owned = {k for keys in expected.values() for k in keys}
    found = {}
    for version in versions:
        migration = by_version.get(version)
        if migration is None:
            raise RefusedError(
                f"migration {version} is not applied in {state.table}: there is nothing to rebaseline",
                hint="name applied versions (scrydon-migrate status)",
                version=version,
            )
        keys = expected.get(version, set()) & state.present if migration.record else state.present - owned
        owned |= keys
        found[version] = Record(tuple(Created(k) for k in sorted(keys) if "#" not in k), source, complete=False)
    return found


def _takes_part(row: TrackedRow) -> bool:
    if row.status is Status.APPLIED:
        return True
    return row.status in (Status.RUNNING, Status.FAILED) and bool(row.statements_done) and row.effects is not None


def desync_error(service: str, result: Classification) -> TrackingDesync:
    missing = [v for v in result.verdicts if v.state in (State.ABSENT, State.PARTIAL)]
    return TrackingDesync(
        RUNBOOK_FATAL,
        details=evidence(result),
        hint=advice(result, service),
        service=service,
        kind=result.kind.value,
        missing_versions=[v.version for v in missing],
        rewind_from=result.rewind_from.version if result.rewind_from else None,
    )
