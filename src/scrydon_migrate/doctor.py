"""Diagnoses for the operator at 3 a.m.: read-only checks, each with the runbook's fix.

Each :class:`Finding` has a stable UPPER_SNAKE code, a severity, a one-line summary
and the exact next step. Nothing here writes to the database.

Every state in which ``up`` exits non-zero is an error finding here, found by ``up``'s own
checks (the same functions, so the two never disagree): a transaction pooler in front of the
database, a snapshot restore that did not finish, a damaged tracking table, a role that may
not create the tool's tables, an edited applied migration, a file that does not parse, a
migration out of order, a guard refusal, a migration waiting for a backfill, a tracking desync
of any kind, a failed or partly applied migration, a resumed migration whose already-run
statements were edited, a dropped audit log, a migration lock held longer than a pod waits.
A failed or stalled backfill and an INVALID index are errors too: each needs an operator,
though ``up`` may still pass. The code of a finding from an ``up`` error is that error's event
(``TRACKING_DESYNC`` for a desync), and its fix is that error's hint.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from scrydon_migrate import db, runner, snapshot, source, tracking, verify
from scrydon_migrate.errors import MigrateError, TrackingDamaged
from scrydon_migrate.tracking import Status, TrackedRow

if TYPE_CHECKING:
    import psycopg

    from scrydon_migrate.config import ServiceSettings, Settings
    from scrydon_migrate.source import Migration, MigrationFile

NEVER_RAN_FIX = (
    "fix whatever kept a pod from becoming ready (see Install troubleshooting), then re-run the migrations: "
    "helm -n <ns> upgrade <release> <chart> --reuse-values  (the migration hook is pre-upgrade, so it runs "
    "before the readiness wait); or, if you can't run helm upgrade: helm -n <ns> get hooks <release> > "
    "/tmp/hooks.yaml, extract the *-migration-* Job manifests, kubectl -n <ns> apply -f /tmp/migrations.yaml, "
    "kubectl -n <ns> wait --for=condition=complete job -l app.kubernetes.io/name=scrydon --timeout=300s"
)


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


@dataclass(frozen=True, slots=True)
class Finding:
    code: str
    severity: Severity
    service: str
    summary: str
    fix: str
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "severity": self.severity.value,
            "service": self.service,
            "summary": self.summary,
            "fix": self.fix,
            "details": self.details,
        }


def unreachable(service: str, message: str) -> Finding:
    return Finding(
        "DATABASE_UNREACHABLE",
        Severity.ERROR,
        service,
        message,
        "check that the database is up and that the service's DATABASE_URL (or <SERVICE>_DATABASE_URL) is right",
    )


def from_error(service: str, exc: MigrateError) -> Finding:
    """The finding for an error ``up`` would stop with: its event, its message and its hint."""
    details = {k: v for k, v in exc.fields.items() if k != "service" and isinstance(v, str | int | None)}
    return Finding(exc.event, Severity.ERROR, service, exc.message, exc.hint or "", details)


def diagnose(
    conn: psycopg.Connection,
    settings: Settings,
    svc: ServiceSettings,
    files: Sequence[MigrationFile],
    database: str,
) -> list[Finding]:
    """Every finding for one reachable service; a role that may not read the tool's tables is one too."""
    import psycopg

    try:
        return _diagnose(conn, settings, svc, files, database)
    except psycopg.errors.InsufficientPrivilege as exc:
        return [from_error(svc.name, db.privilege_missing(conn, svc.name, exc))]


def _diagnose(
    conn: psycopg.Connection,
    settings: Settings,
    svc: ServiceSettings,
    files: Sequence[MigrationFile],
    database: str,
) -> list[Finding]:
    findings = list(_pooler_findings(conn, svc))
    try:
        snapshot.refuse_incomplete(conn, svc.name)
        rows = tracking.read_rows(conn, svc.tracking_table)
    except (snapshot.RestoreIncomplete, TrackingDamaged) as exc:
        return [*findings, from_error(svc.name, exc), *_lock_findings(conn, settings, svc)]
    findings.extend(_privilege_findings(conn, svc, files, rows or {}))
    if rows is None:
        findings.extend(_no_tracking_table(conn, svc, files, database))
        findings.extend(_refusals(conn, settings, svc, files, {}))
        findings.extend(_lock_findings(conn, settings, svc))
        return findings
    findings.extend(_row_findings(conn, svc, files, rows, migrating=_lock_holder(conn, svc) is not None))
    findings.extend(_refusals(conn, settings, svc, files, rows))
    result = verify.read(conn, svc.tracking_table).classify(files)
    if result.kind is not verify.Kind.HEALTHY:
        findings.append(
            Finding(
                "TRACKING_DESYNC",
                Severity.ERROR,
                svc.name,
                f"tracking desync ({result.kind.value}): " + "; ".join(verify.evidence(result)[:3]),
                verify.advice(result, svc.name),
                {"kind": result.kind.value, "rewind_from": result.rewind_from.version if result.rewind_from else None},
            )
        )
    findings.extend(_lock_findings(conn, settings, svc))
    findings.extend(_audit_findings(conn, svc, rows))
    findings.extend(_deleted_by_hand(conn, svc, files, rows))
    findings.extend(_invalid_indexes(conn, svc))
    findings.extend(_backfill_findings(conn, svc))
    if settings.repair_tracking:
        findings.append(
            Finding(
                "REPAIR_TRACKING_LEFT_ON",
                Severity.WARNING,
                svc.name,
                "MIGRATE_REPAIR_TRACKING is set: the break-glass repair flag is still on, so a later "
                "repairable desync would be rewound and re-applied without anyone deciding it",
                f"set {svc.spec.values_key}.migration.repairTracking back to false (unset MIGRATE_REPAIR_TRACKING) "
                "once the repair upgrade succeeded",
            )
        )
    return findings


def _pooler_findings(conn: psycopg.Connection, svc: ServiceSettings) -> Iterator[Finding]:
    """A URL through a transaction or statement pooler, which ``up`` refuses (exit 3) before the lock.

    The probe is ``up``'s own: it opens a second connection and compares server pids, and writes nothing.
    """
    try:
        db.refuse_transaction_pooling(conn, svc.name)
    except MigrateError as exc:
        yield from_error(svc.name, exc)


def _privilege_findings(
    conn: psycopg.Connection, svc: ServiceSettings, files: Sequence[MigrationFile], rows: dict[int, TrackedRow]
) -> Iterator[Finding]:
    """A role without CREATE on the tracking table's schema: ``up`` needs it for its bookkeeping (exit 3).

    Only with migrations pending: with nothing to do, ``up`` stops before it creates or upgrades anything.
    """
    if not runner.make_plan(svc.name, files, rows).pending:
        return
    schema = tracking.resolve(conn, svc.tracking_table).rsplit(".", 1)[0]
    record = conn.execute("SELECT has_schema_privilege(%s, 'CREATE')", (schema,)).fetchone()
    if record is None or record[0]:
        return
    denied = PermissionError(f"permission denied for schema {schema}")
    yield from_error(svc.name, db.privilege_missing(conn, svc.name, denied))


def _refusals(
    conn: psycopg.Connection,
    settings: Settings,
    svc: ServiceSettings,
    files: Sequence[MigrationFile],
    rows: dict[int, TrackedRow],
) -> Iterator[Finding]:
    """What would make ``up`` stop before or between migrations, found by ``up``'s own checks."""
    from scrydon_migrate import api, guard

    plan = runner.make_plan(svc.name, files, rows)
    checks: list[Callable[[], object]] = [
        lambda: runner.check_unchanged(conn, svc.tracking_table, plan),
        lambda: runner.refuse_out_of_order(plan, settings.allow_out_of_order),
    ]
    loaded: list[Migration] = []
    for migration_file in plan.pending:
        try:
            loaded.append(source.load(migration_file))
        except MigrateError as exc:
            yield from_error(svc.name, exc)
    checks.extend(
        functools.partial(runner.resume_point, conn, svc.tracking_table, m, rows[m.version])
        for m in loaded
        if m.version in rows
    )
    checks.append(lambda: guard.enforce(conn, loaded, api.guard_thresholds(settings)))
    if rows:
        checks.extend(
            functools.partial(api.require_backfills, conn, svc.name, svc.tracking_table, m)
            for m in loaded
            if m.requires_backfills
        )
    for check in checks:
        try:
            check()
        except MigrateError as exc:
            yield from_error(svc.name, exc)


def _no_tracking_table(
    conn: psycopg.Connection, svc: ServiceSettings, files: Sequence[MigrationFile], database: str
) -> Iterator[Finding]:
    record = conn.execute(
        "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema')"
        " AND n.nspname NOT LIKE 'pg\\_%'"
    ).fetchone()
    tables = record[0] if record else 0
    if tables == 0:
        yield Finding(
            "MIGRATIONS_NEVER_RAN",
            Severity.ERROR,
            svc.name,
            f"database {database!r} has no tables and no {svc.tracking_table} table: migrations never ran",
            NEVER_RAN_FIX,
            {"pending": len(files)},
        )
        return
    yield Finding(
        "TRACKING_TABLE_MISSING",
        Severity.ERROR,
        svc.name,
        f"database {database!r} has {tables} tables but no {svc.tracking_table} table",
        "this database was not built by these migrations, or its tracking table was dropped: "
        "restore the pre-upgrade snapshot, or contact support before creating the tracking table by hand",
        {"tables": tables},
    )


def _row_findings(
    conn: psycopg.Connection,
    svc: ServiceSettings,
    files: Sequence[MigrationFile],
    rows: dict[int, TrackedRow],
    *,
    migrating: bool,
) -> Iterator[Finding]:
    """Failed and partly applied migrations, unknown newer versions, pending ones.

    A ``running`` row with the migration lock held is a migration being applied now (a warning); without
    the lock it is one a killed pod left part-way: ``up`` resumes it, and may fail on it again.
    """
    plan = runner.make_plan(svc.name, files, rows)
    for row in sorted(rows.values(), key=lambda r: r.version):
        if row.status is Status.FAILED:
            yield Finding(
                "MIGRATION_FAILED",
                Severity.ERROR,
                svc.name,
                f"migration {row.version} ({row.file}) failed at line {row.failed_line} [{row.sqlstate}]: {row.error}",
                _failed_fix(conn, svc, row),
                {"version": row.version, "file": row.file, "statement": row.failed_statement},
            )
        elif row.status is Status.RUNNING:
            yield _partly_applied(svc, row, migrating=migrating)
    if plan.unknown_newer:
        yield Finding(
            "UNKNOWN_NEWER_VERSIONS",
            Severity.INFO,
            svc.name,
            "applied versions newer than this release's files: "
            + ", ".join(str(r.version) for r in plan.unknown_newer),
            "expected after a Helm rollback: migrations are forward-compatible and never un-applied",
        )
    if plan.pending:
        yield Finding(
            "MIGRATIONS_PENDING",
            Severity.INFO,
            svc.name,
            f"{len(plan.pending)} migration(s) pending, first {plan.pending[0].file}",
            "they are applied by the next start-up or migration job (scrydon-migrate up)",
        )


def _partly_applied(svc: ServiceSettings, row: TrackedRow, *, migrating: bool) -> Finding:
    """A ``running`` row: applied now (the lock is held), or left by a pod that died part-way."""
    done = row.statements_done or 0
    where = f"migration {row.version} ({row.file}) {{}} statement {done} of {row.statements_total}"
    if migrating:
        return Finding(
            "MIGRATION_IN_PROGRESS",
            Severity.WARNING,
            svc.name,
            where.format("is being applied: its pod has done"),
            "a migration is running: watch its pod's log; see MIGRATION_LOCK_HELD if it seems stuck",
            {"version": row.version, "statements_done": done},
        )
    return Finding(
        "MIGRATION_PARTLY_APPLIED",
        Severity.ERROR,
        svc.name,
        where.format("was interrupted (its pod was killed or lost the database) after"),
        f"restart the pod: up resumes at statement {done + 1} (statements 1-{done} stay applied, never run again). "
        "If it fails there: " + runner.RECOVERY_PATHS.format(service=svc.name, version=row.version),
        {"version": row.version, "statements_done": done},
    )


LOCK_NOT_AVAILABLE = "55P03"
#: How the tracking row of a statement the lock budget cancelled begins its error.
LOCK_BUDGET_ERROR = "cancelled by the lock budget"


def _failed_fix(conn: psycopg.Connection, svc: ServiceSettings, row: TrackedRow) -> str:
    """A failed migration's next step: the runbook's paths, unless the failure was about locks, not the file."""
    paths = runner.RECOVERY_PATHS.format(service=svc.name, version=row.version)
    if row.sqlstate == LOCK_NOT_AVAILABLE:
        return _lock_timeout_fix(conn, row)
    if (row.error or "").startswith(LOCK_BUDGET_ERROR):  # the paths without fix forward: the file is not wrong
        return (
            "the statement held a write-blocking lock past the lock budget while writers waited, and was cancelled "
            "(its transaction rolled back). A restart retries it, and while the application writes it is cancelled "
            "again: split it as the MIGRATION_LOCK_BUDGET_EXCEEDED line of the pod's log says (a declared backfill, "
            "CONCURRENTLY, NOT VALID), or, if holding the lock is deliberate, put -- migrate:allow lock-budget "
            'reason="..." above the statement or raise --lock-budget-ms; or ' + paths.split("; ", 1)[1]
        )
    return paths


def _lock_timeout_fix(conn: psycopg.Connection, row: TrackedRow) -> str:
    """A lock timeout is not a bug in the file: the fix is the session that held the table, not an edit."""
    record = conn.execute(
        "SELECT string_agg(format('pid %%s (%%s, %%s since %%s)', a.pid, coalesce(nullif(a.application_name, ''),"
        " 'no application_name'), a.state, date_trunc('second', a.xact_start)), '; ' ORDER BY a.xact_start)"
        " FROM pg_stat_activity a WHERE a.pid <> pg_backend_pid() AND a.datname = current_database()"
        " AND a.xact_start <= coalesce(%s, now())"
        " AND EXISTS (SELECT FROM pg_locks l WHERE l.pid = a.pid AND l.locktype = 'relation' AND l.granted)",
        (row.attempted_at,),
    ).fetchone()
    holders = record[0] if record and record[0] else None
    return (
        "the statement never got its table lock within the lock timeout and its retries: a long transaction "
        "held the table (writers were never blocked longer than the lock timeout). Do not edit the migration. "
        + (
            f"Still open since before the attempt: {holders}; let it finish or end it with "
            "pg_terminate_backend(<pid>), then "
            if holders
            else "No transaction from before the attempt is still open: "
        )
        + "restart the pod (up retries the migration); raise --lock-timeout-ms / --lock-retries "
        "(MIGRATE_LOCK_TIMEOUT_MS, MIGRATE_LOCK_RETRIES) if such waits are expected"
    )


def _lock_holder(conn: psycopg.Connection, svc: ServiceSettings) -> tracking.LockHolder | None:
    """Who holds the service's migration lock (looked up in this database only)."""
    return tracking.lock_holder(conn, tracking.locate(conn, svc.tracking_table)[1])


def _lock_findings(conn: psycopg.Connection, settings: Settings, svc: ServiceSettings) -> Iterator[Finding]:
    """The migration lock: an error once held longer than a waiting pod waits (it then exits 4)."""
    holder = _lock_holder(conn, svc)
    if holder is None:
        return
    held = conn.execute("SELECT extract(epoch FROM now() - %s)", (holder.since,)).fetchone()
    seconds = float(held[0]) if held and held[0] is not None else 0.0
    too_long = seconds >= settings.lock_wait_s
    yield Finding(
        "MIGRATION_LOCK_HELD",
        Severity.ERROR if too_long else Severity.WARNING,
        svc.name,
        f"the migration lock is held by pid {holder.pid} ({holder.application_name or 'no application_name'}) "
        f"for {int(seconds)} s, its session {holder.state or 'in an unknown state'}"
        + (f"; pods waiting for it give up after {settings.lock_wait_s:g} s (exit 4)" if too_long else ""),
        "a migration is running: watch its pod's log (it logs each migration it applies). If that pod is gone "
        f"and the session is stuck, end it with SELECT pg_terminate_backend({holder.pid}); the lock goes with it "
        "and the next pod takes over. To let pods wait longer, raise --lock-wait (MIGRATE_LOCK_WAIT)",
        holder.fields(),
    )


def _backfill_findings(conn: psycopg.Connection, svc: ServiceSettings) -> Iterator[Finding]:
    """A failed backfill (its error), and a running one whose workers stopped beating."""
    from scrydon_migrate import backfill

    for b in backfill.list_backfills(conn, svc.tracking_table):
        where = {"backfill": b.name, "table": b.table_name, "percent": b.percent, "worker": b.worker}
        if b.state is backfill.State.FAILED:
            yield Finding(
                "BACKFILL_FAILED",
                Severity.ERROR,
                svc.name,
                f"backfill {b.name!r} on {b.table_name} failed: {b.error}",
                f"fix the cause, then: scrydon-migrate backfill retry --service {svc.name} {b.name} (it goes on "
                "from its checkpoints); the release that requires it is refused until it completes",
                where | {"error": b.error},
            )
        elif b.stalled_since is not None:
            yield Finding(
                "BACKFILL_STALLED",
                Severity.ERROR,
                svc.name,
                f"backfill {b.name!r} on {b.table_name} is stalled: no worker heartbeat since "
                f"{b.stalled_since.isoformat(timespec='seconds')} (last batch "
                f"{b.last_batch_at.isoformat(timespec='seconds') if b.last_batch_at else 'never'})",
                f"start the backfill worker again (scrydon-migrate backfill run --service {svc.name}, or the chart's "
                "backfill Deployment): it resumes after the last committed batch",
                where | {"stalled_since": b.stalled_since.isoformat()},
            )


def _audit_findings(conn: psycopg.Connection, svc: ServiceSettings, rows: Mapping[int, Any]) -> Iterator[Finding]:
    """A dropped audit log, or one whose hash chain shows rows changed, removed or forged."""
    from scrydon_migrate import audit

    check = audit.verify(conn, svc.tracking_table)
    if check is None and rows:
        yield Finding(
            "AUDIT_LOG_MISSING",
            Severity.ERROR,
            svc.name,
            f"the audit log {audit.table_for(svc.tracking_table)} is missing although migrations are recorded",
            "restore it from the snapshot taken before the upgrade, or start a new one on purpose: "
            f"scrydon-migrate audit --recreate --service {svc.name}",
        )
    elif check is not None and not check.intact:
        yield Finding(
            "AUDIT_LOG_TAMPERED",
            Severity.ERROR,
            svc.name,
            f"the audit log's hash chain breaks at id {check.broken_at}: {check.why}",
            "compare with the snapshot taken before the upgrade and the pod logs (every event is also logged); "
            "find who changed the table (the migration role's sessions) before trusting it",
            check.to_dict(),
        )


def _deleted_by_hand(
    conn: psycopg.Connection, svc: ServiceSettings, files: Sequence[MigrationFile], rows: dict[int, TrackedRow]
) -> Iterator[Finding]:
    """Pending migrations that are pending because someone deleted their tracking row: up runs them again."""
    import psycopg
    from psycopg import sql

    from scrydon_migrate import audit

    pending = [f.version for f in runner.make_plan(svc.name, files, rows).pending]
    if not pending:
        return
    query = sql.SQL(
        "SELECT DISTINCT ON (version) version, at, actor, details->'deleted_row'->>'status' FROM {}"
        " WHERE event = 'MIGRATION_TRACKING_ROW_DELETED' AND version = ANY(%s) ORDER BY version, id DESC"
    ).format(tracking.table_identifier(audit.table_for(svc.tracking_table)))
    try:
        deleted = conn.execute(query, (pending,)).fetchall()
    except psycopg.errors.UndefinedTable:  # reported as AUDIT_LOG_MISSING
        return
    for version, at, actor, status in deleted:
        yield Finding(
            "MIGRATION_ROW_DELETED_BY_HAND",
            Severity.WARNING,
            svc.name,
            f"migration {version} is pending because its tracking row ({status}) was deleted by hand by {actor} "
            f"at {at.isoformat(timespec='seconds')}: up runs it again",
            "if its objects are still there, running it again may fail or double its effects: to skip it instead, "
            f'scrydon-migrate mark-applied --service {svc.name} --version {version} --reason "..."',
            {"version": version, "actor": actor},
        )


def _invalid_indexes(conn: psycopg.Connection, svc: ServiceSettings) -> Iterator[Finding]:
    rows = conn.execute(
        "SELECT i.indexrelid::regclass::text, i.indrelid::regclass::text FROM pg_index i"
        " JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE NOT i.indisvalid AND n.nspname NOT LIKE 'pg\\_%'"
    ).fetchall()
    for index, table in rows:
        yield Finding(
            "INVALID_INDEX",
            Severity.ERROR,
            svc.name,
            f"index {index} on {table} is INVALID (a concurrent build failed or was killed): queries do not use it, "
            "yet every write maintains it",
            f"if its migration is failed or pending, restart the pod: up drops it and builds it again; otherwise "
            f"DROP INDEX CONCURRENTLY {index}; and build it again with CREATE INDEX CONCURRENTLY in a new migration",
            {"index": index, "table": table},
        )
