"""The commands as plain functions: what the CLI calls and what a service calls on start-up.

Each takes resolved :class:`~scrydon_migrate.config.Settings`, returns values (never
prints, never exits) and raises :class:`~scrydon_migrate.errors.MigrateError`.
Services without a database URL are pointed at the embedded PostgreSQL, started for
the duration of the call and stopped after unless it was already running.

A command imports the modules it needs (the runner, the recorder, tracking, verify, the driver)
when it runs: ``lint`` in CI never loads what applying a migration needs, nor pays for it.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scrydon_migrate import log, source
from scrydon_migrate.config import ServiceSettings, Settings, values_key
from scrydon_migrate.errors import ConfigError, DatabaseUnavailable, RefusedError, SourceError

if TYPE_CHECKING:
    import psycopg

    from scrydon_migrate import (
        audit,
        backfill,
        doctor,
        guard,
        record,
        runner,
        snapshot,
        verify,
        watchdog,
    )
    from scrydon_migrate import lint as lint_module
    from scrydon_migrate.adopt import History
    from scrydon_migrate.startup import UpResult
    from scrydon_migrate.tracking import TrackedRow

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class MigrationStatus:
    version: str
    file: str | None
    status: str
    applied_at: datetime | None = None
    applied_by: str | None = None
    duration_ms: int | None = None
    detail: str | None = None
    lock_held_ms: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "file": self.file,
            "status": self.status,
            "applied_at": self.applied_at.isoformat() if self.applied_at else None,
            "applied_by": self.applied_by,
            "duration_ms": self.duration_ms,
            "lock_held_ms": self.lock_held_ms,
            "detail": self.detail,
        }


@dataclass(frozen=True, slots=True)
class ServiceStatus:
    service: str
    database: str
    tracking_table: str
    migrations: tuple[MigrationStatus, ...]
    counts: dict[str, int] = field(default_factory=dict)
    last_applied: MigrationStatus | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "service": self.service,
            "database": self.database,
            "tracking_table": self.tracking_table,
            "counts": self.counts,
            "last_applied": self.last_applied.to_dict() if self.last_applied else None,
            "migrations": [m.to_dict() for m in self.migrations],
        }


@contextlib.contextmanager
def _databases(settings: Settings) -> Iterator[Settings]:
    """``settings`` with every service given a URL, starting the embedded server if needed."""
    from scrydon_migrate import db

    if not any(s.uses_embedded for s in settings.services):
        yield settings
        return
    from scrydon_migrate import embedded

    with embedded.running(settings.embedded_dir) as server:
        resolved = settings
        admin = db.connect(server.url(), application_name=settings.application_name, service="embedded")
        with admin:
            for svc in settings.services:
                if svc.uses_embedded:
                    _create_database(admin, svc.spec.database_name)
                    resolved = resolved.with_database_url(svc.name, server.url(svc.spec.database_name))
        yield resolved


def _create_database(admin: psycopg.Connection, name: str) -> None:
    import psycopg
    from psycopg import sql

    exists = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
    if exists is None:
        with contextlib.suppress(psycopg.errors.DuplicateDatabase):
            admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def _connect(settings: Settings, svc: ServiceSettings) -> psycopg.Connection:
    from scrydon_migrate import db

    assert svc.database_url is not None
    return db.connect(
        svc.database_url,
        application_name=settings.application_name,
        service=svc.name,
        wait_for_db_s=settings.wait_for_db_s,
    )


def _scan(svc: ServiceSettings) -> list[source.MigrationFile]:
    return source.scan(svc.name, svc.migrations_dir)


def _selected(settings: Settings) -> list[ServiceSettings]:
    """The services to act on: all with a migrations folder, or the ones asked for by name."""
    chosen = [s for s in settings.services if s.migrations_dir.is_dir() or s.migrations_dir_explicit]
    if len(settings.services) == 1 or not chosen:
        chosen = list(settings.services)
    if not any(s.migrations_dir.is_dir() for s in chosen):
        first = chosen[0]
        raise SourceError(
            f"no migrations folder for service {first.name!r} at {str(first.migrations_dir)!r}",
            hint="run from the folder that holds migrations/<service>/, or set --migrations-dir "
            "(MIGRATE_MIGRATIONS_DIR) or migrations_root in scrydon-migrate.toml",
            service=first.name,
            file=str(first.migrations_dir),
        )
    return chosen


def _lenient(settings: Settings) -> list[ServiceSettings]:
    """Services for read-only commands: those with a migrations folder, else every selected one."""
    found = [s for s in settings.services if s.migrations_dir.is_dir() or len(settings.services) == 1]
    return found or list(settings.services)


def _each_connected(
    settings: Settings, services: list[ServiceSettings], *, with_files: bool = False
) -> Iterator[tuple[ServiceSettings, list[source.MigrationFile], psycopg.Connection]]:
    """Each service with its files (scanned first, so a bad file changes nothing) and a connection."""
    scanned = {svc.name: _scan(svc) for svc in services} if with_files else {}
    with _databases(settings) as resolved:
        for svc in services:
            current = resolved.service(svc.name)
            with _connect(resolved, current) as conn:
                yield current, scanned.get(svc.name, []), conn


def up(settings: Settings) -> list[UpResult]:
    """Apply every pending migration of each selected service, in version order."""
    from scrydon_migrate import startup

    services = _selected(settings)
    keys = {svc.name: startup.files_key(svc.migrations_dir) for svc in services}
    scanned = {svc.name: _scan(svc) for svc in services}
    results = []
    with _databases(settings) as resolved:
        for svc in services:
            results.append(_up_service(resolved, resolved.service(svc.name), scanned[svc.name], keys[svc.name]))
    return results


def _up_service(
    settings: Settings, svc: ServiceSettings, files: list[source.MigrationFile], files_key: str | None = None
) -> UpResult:
    """``up`` for one service; a connection lost outside a migration is reported, never a traceback."""
    import psycopg

    from scrydon_migrate import db

    conn = _connect(settings, svc)
    with conn:
        try:
            return _up_one(conn, settings, svc, files, files_key)
        except psycopg.errors.InsufficientPrivilege as exc:
            raise db.privilege_missing(conn, svc.name, exc) from None
        except psycopg.OperationalError as exc:
            if not db.is_connection_lost(conn, exc):
                raise
            raise DatabaseUnavailable(
                f"lost the connection to the database of service {svc.name!r}: "
                f"{str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__}",
                hint="restart when the database is back: up picks up where it stopped",
                service=svc.name,
            ) from exc


def _up_one(
    conn: psycopg.Connection,
    settings: Settings,
    svc: ServiceSettings,
    files: list[source.MigrationFile],
    files_key: str | None,
) -> UpResult:
    from scrydon_migrate import db, runner, snapshot, startup, tracking, verify

    snapshot.refuse_incomplete(conn, svc.name)
    generation = startup.settled_generation(conn) if files_key is not None else None
    state = verify.read(conn, svc.tracking_table)
    plan = runner.make_plan(svc.name, files, state.rows or {})
    runner.check_unchanged(conn, svc.tracking_table, plan)
    result = state.classify(files)
    repair = settings.repair_tracking and result.kind is verify.Kind.REPAIRABLE
    _warn_repair_flag(settings, svc, result)
    if not plan.pending and result.kind is verify.Kind.HEALTHY:
        finished = _finish(svc, plan, (), 0.0, took_lock=False)
        if generation and files_key and state.rows_digest and _says_nothing_more(settings, plan):
            table = tracking.resolve(conn, svc.tracking_table)
            startup.store(
                conn, table, generation=generation, rows_digest=state.rows_digest, key=files_key, total=finished.total
            )
        return finished
    from scrydon_migrate import audit, guard

    if result.kind is verify.Kind.HEALTHY or repair:
        runner.refuse_out_of_order(plan, settings.allow_out_of_order)
        guard.enforce(conn, runner.load_pending(plan), guard_thresholds(settings))
    table, key = tracking.locate(conn, svc.tracking_table)
    waited = tracking.acquire_lock(
        conn, key, service=svc.name, wait_s=settings.lock_wait_s, report_every_s=settings.lock_report_every_s
    )
    try:
        state = verify.read(conn, table)
        result = state.classify(files)
        _store_confirmed_predictions(conn, svc, state, files)
        if result.kind is not verify.Kind.HEALTHY:
            if not (settings.repair_tracking and result.kind is verify.Kind.REPAIRABLE):
                raise verify.desync_error(svc.name, result)
            _repair_tracking(conn, svc, table, result)
        db.prepare_session(conn, settings.lock_timeout_ms)
        with conn.transaction():
            audit.lock_bookkeeping_ddl(conn)
            tracking.ensure_table(conn, table, svc.name)
            audit.ensure_table(conn, table)
        plan = runner.make_plan(svc.name, files, tracking.read_rows(conn, table) or {})
        runner.check_unchanged(conn, table, plan)
        runner.refuse_out_of_order(plan, settings.allow_out_of_order)
        if plan.pending and settings.snapshot_to is not None:
            _pre_upgrade_snapshot(conn, svc, settings.snapshot_to, max(f.version for f in plan.files))
        applied = tuple(_apply_all(conn, svc.name, table, plan, settings)) if plan.pending else ()
    finally:
        with contextlib.suppress(Exception):
            tracking.release_lock(conn, key)
    return _finish(svc, plan, applied, waited, took_lock=True)


def _store_confirmed_predictions(
    conn: psycopg.Connection, svc: ServiceSettings, state: verify.TrackedState, files: list[source.MigrationFile]
) -> None:
    """Rows of releases that predicted effects get the record the schema confirms, once (under the lock)."""
    from scrydon_migrate import verify

    with conn.transaction():
        stored = verify.store_confirmed_predictions(conn, state, files)
    if stored:
        log.event(
            logger,
            logging.INFO,
            "stored the effects that the schema confirms for rows an older release wrote with predicted effects",
            "TRACKING_RECORDS_CONFIRMED",
            service=svc.name,
            rows=stored,
        )


def _says_nothing_more(settings: Settings, plan: runner.Plan) -> bool:
    """Whether this no-op logs only that the schema is up to date (the start-up check repeats just that)."""
    return not (plan.changed or plan.unknown_newer or plan.missing_files or settings.repair_tracking)


def _warn_repair_flag(settings: Settings, svc: ServiceSettings, result: verify.Classification) -> None:
    from scrydon_migrate import verify

    if settings.repair_tracking and result.kind is verify.Kind.HEALTHY:
        log.event(
            logger,
            logging.WARNING,
            "MIGRATE_REPAIR_TRACKING is still on, but tracking is healthy: while it stays on, a later repairable "
            "desync is rewound and re-applied without stopping (exit 0) instead of failing loudly for someone "
            f"to decide: set it back to false ({svc.spec.values_key}.migration.repairTracking: false, or unset "
            "MIGRATE_REPAIR_TRACKING). Partial and non-contiguous desyncs are refused either way",
            "REPAIR_TRACKING_LEFT_ON",
            service=svc.name,
        )


def _repair_tracking(conn: psycopg.Connection, svc: ServiceSettings, table: str, result: verify.Classification) -> None:
    """Under the lock, with ``result`` read under it: rewind the falsely tracked rows so they are applied again."""
    from scrydon_migrate import audit, runner, tracking

    audit.ensure_table(conn, table)
    with conn.transaction():
        rewound = tracking.rewind(conn, table, result.rewind_versions)
        audit.record(
            conn,
            table,
            service=svc.name,
            event="MIGRATION_TRACKING_REPAIRED",
            version=result.rewind_from.version if result.rewind_from else None,
            actor=runner.applied_by(),
            reason="MIGRATE_REPAIR_TRACKING=1: the rewound migrations' recorded objects were all missing",
            details={"rewound": [{k: str(v) if v is not None else None for k, v in r.items()} for r in rewound]},
        )
    log.event(
        logger,
        logging.WARNING,
        "rewound falsely tracked migrations; they are applied again now",
        "MIGRATION_TRACKING_REPAIRED",
        service=svc.name,
        rewind_from=result.rewind_from.label if result.rewind_from else None,
        versions=",".join(str(r["version"]) for r in rewound),
        rows=json.dumps(rewound, default=str),
    )


def require_backfills(conn: psycopg.Connection, service: str, table: str, migration: source.Migration) -> None:
    """The ``-- migrate:requires-backfill`` gate: refuse the migration until its backfills completed."""
    from scrydon_migrate import backfill

    if not migration.requires_backfills:
        return
    waiting = backfill.incomplete(conn, table, migration.requires_backfills)
    if not waiting:
        return
    name, state = next(iter(waiting.items()))
    raise backfill.BackfillIncomplete(
        f"migration {migration.file.version_text} ({migration.file.file}) of service {service!r} requires "
        f"backfill {name!r}, which is {state}; it is applied once the backfill has completed",
        hint=f"run the backfill worker (scrydon-migrate backfill run --service {service}); once scrydon-migrate "
        f"backfill status says completed, restart (the migrations before it are applied). Under Helm this Job is "
        f"the pre-upgrade hook, so this release's backfill worker is never created while it fails: run one from "
        f"the installed release (helm -n <ns> upgrade <release> <chart> --version <installed> --reuse-values "
        f"--set {values_key(service)}.backfill.enabled=true), then run this helm upgrade again",
        service=service,
        version=migration.file.version_text,
        file=str(migration.file.path),
        backfill=name,
        backfill_state=state,
    )


def guard_thresholds(settings: Settings) -> guard.Thresholds:
    from scrydon_migrate import guard

    return guard.Thresholds(rows=settings.large_table_rows, bytes=settings.large_table_bytes)


def _apply_all(
    conn: psycopg.Connection, service: str, table: str, plan: runner.Plan, settings: Settings
) -> Iterator[runner.Applied]:
    from scrydon_migrate import guard, record, runner, watchdog

    policy = runner.LockPolicy(
        timeout_ms=settings.lock_timeout_ms,
        retries=settings.lock_retries,
        statement_timeout_ms=settings.statement_timeout_ms,
    )
    migrations = runner.load_pending(plan)
    guard.enforce(conn, migrations, guard_thresholds(settings))
    recorder = record.Recorder.start(conn, table)
    url = settings.service(service).database_url
    assert url is not None
    limits = watchdog.Limits(settings.lock_budget_ms, settings.large_table_rows, settings.large_table_bytes)
    with watchdog.watching(url, conn, limits, service=service, application_name=settings.application_name) as dog:
        yield from _apply_each(conn, service, table, plan, settings, migrations, policy, dog, recorder)


def _apply_each(
    conn: psycopg.Connection,
    service: str,
    table: str,
    plan: runner.Plan,
    settings: Settings,
    migrations: list[source.Migration],
    policy: runner.LockPolicy,
    dog: watchdog.Watchdog | None,
    recorder: record.Recorder,
) -> Iterator[runner.Applied]:
    from scrydon_migrate import runner

    for migration in migrations:
        if not migration.statements:
            log.event(
                logger,
                logging.WARNING,
                "migration is marked '-- postgres-migrations ignore': recorded as applied, nothing run"
                if migration.ignored
                else "migration has only comments: recorded as applied, nothing to run",
                "MIGRATION_IGNORED" if migration.ignored else "MIGRATION_EMPTY",
                service=service,
                version=migration.file.version_text,
                file=migration.file.file,
            )
        require_backfills(conn, service, table, migration)
        done = runner.apply(conn, table, migration, plan.rows.get(migration.version), recorder, policy, dog)
        log.event(
            logger,
            logging.INFO,
            "applied migration",
            "MIGRATION_APPLIED",
            service=service,
            version=done.version,
            file=done.file,
            duration_ms=done.duration_ms,
            statements=done.statements,
            lock_held_ms=done.lock_held_ms,
        )
        yield done


def _finish(
    svc: ServiceSettings,
    plan: runner.Plan,
    applied: tuple[runner.Applied, ...],
    waited: float,
    *,
    took_lock: bool,
) -> UpResult:
    from scrydon_migrate import startup
    from scrydon_migrate.startup import UpResult

    for row in plan.unknown_newer:
        log.event(
            logger,
            logging.WARNING,
            "applied migration is newer than every migration file of this release (a rollback?); "
            "starting anyway: migrations are forward-compatible and never un-applied",
            "MIGRATION_UNKNOWN_NEWER",
            service=svc.name,
            version=row.version,
            file=row.file,
        )
    for row in plan.missing_files:
        log.event(
            logger,
            logging.WARNING,
            "applied migration has no file any more",
            "MIGRATION_FILE_MISSING",
            service=svc.name,
            version=row.version,
            file=row.file,
        )
    total = sum(1 for r in plan.rows.values() if r.counts_as_done) + len(applied)
    if not applied:
        startup.log_up_to_date(svc.name, total, waited_s=waited if took_lock else None)
    return UpResult(
        service=svc.name,
        applied=applied,
        total=total,
        waited_for_lock_s=waited,
        took_lock=took_lock,
        unknown_newer=tuple(str(r.version) for r in plan.unknown_newer),
        missing_files=tuple(str(r.version) for r in plan.missing_files),
    )


def status(settings: Settings) -> list[ServiceStatus]:
    """Per service: every migration with its state, the counts and the last applied one."""
    from scrydon_migrate import tracking

    report = []
    for svc, files, conn in _each_connected(settings, _selected(settings), with_files=True):
        report.append(_service_status(svc, files, tracking.read_rows(conn, svc.tracking_table) or {}))
    return report


def _service_status(
    svc: ServiceSettings, files: list[source.MigrationFile], rows: dict[int, TrackedRow]
) -> ServiceStatus:
    from scrydon_migrate import db, runner
    from scrydon_migrate.tracking import Status

    plan = runner.make_plan(svc.name, files, rows)
    entries: list[MigrationStatus] = []
    for migration_file in files:
        entries.append(_file_status(migration_file, rows.get(migration_file.version)))
    for row in plan.unknown_newer:
        entries.append(_row_status(row, "unknown-newer", "applied by a newer release; no file here"))
    for row in plan.missing_files:
        entries.append(_row_status(row, "missing-file", "applied, but its file is gone"))
    entries.sort(key=lambda e: int(e.version))
    counts: dict[str, int] = {}
    for entry in entries:
        counts[entry.status] = counts.get(entry.status, 0) + 1
    applied = [e for e in entries if e.status == Status.APPLIED.value and e.applied_at]
    last = max(applied, key=lambda e: e.applied_at or datetime.min, default=None)
    return ServiceStatus(
        service=svc.name,
        database=db.describe(svc.database_url or ""),
        tracking_table=svc.tracking_table,
        migrations=tuple(entries),
        counts=counts,
        last_applied=last,
    )


def _file_status(migration_file: source.MigrationFile, row: TrackedRow | None) -> MigrationStatus:
    from scrydon_migrate.tracking import Status

    if row is None:
        return MigrationStatus(migration_file.version_text, migration_file.file, "pending")
    detail = None
    if row.marked_by_hand:
        detail = f"marked applied by hand by {row.applied_by}" + (
            f"; its failed attempt: {row.error}" if row.error else ""
        )
    elif row.status is Status.SKIPPED:
        detail = f"skipped: {row.reason}"
    elif row.status is Status.FAILED:
        detail = (
            f"failed at line {row.failed_line} [{row.sqlstate}]: {row.error}"
            f" ({row.statements_done or 0}/{row.statements_total} statements done, attempted {row.attempted_at})"
        )
    elif row.status is Status.RUNNING:
        detail = f"stopped after statement {row.statements_done or 0} of {row.statements_total}; up resumes it"
    elif row.reason:
        detail = row.reason
    return MigrationStatus(
        version=migration_file.version_text,
        file=migration_file.file,
        status=row.status.value,
        applied_at=row.applied_at,
        applied_by=row.applied_by,
        duration_ms=row.duration_ms,
        detail=detail,
        lock_held_ms=row.lock_held_ms,
    )


def _row_status(row: TrackedRow, state: str, detail: str) -> MigrationStatus:
    return MigrationStatus(
        version=str(row.version),
        file=row.file,
        status=state,
        applied_at=row.applied_at,
        applied_by=row.applied_by,
        duration_ms=row.duration_ms,
        detail=detail,
    )


@dataclass(frozen=True, slots=True)
class ServiceHistory:
    service: str
    tracking_table: str
    rows: tuple[dict[str, Any], ...] | None


def history(settings: Settings, *, limit: int = 20) -> list[ServiceHistory]:
    """The runbook's verification query per service: newest first."""
    from scrydon_migrate import tracking

    report = []
    for svc, _files, conn in _each_connected(settings, _lenient(settings)):
        rows = tracking.history(conn, svc.tracking_table, limit)
        report.append(ServiceHistory(svc.name, svc.tracking_table, None if rows is None else tuple(rows)))
    return report


@dataclass(frozen=True, slots=True)
class ServiceVerification:
    service: str
    result: verify.Classification

    def to_dict(self) -> dict[str, Any]:
        from scrydon_migrate import verify

        return {
            "service": self.service,
            "kind": self.result.kind.value,
            "rewind_from": self.result.rewind_from.version if self.result.rewind_from else None,
            "advice": None if self.result.kind is verify.Kind.HEALTHY else verify.advice(self.result, self.service),
            "reasons": list(self.result.reasons),
            "migrations": [
                {
                    "version": v.version,
                    "label": v.label,
                    "state": v.state.value,
                    "expected_objects": len(v.expected),
                    "missing": sorted(v.missing),
                }
                for v in self.result.verdicts
            ],
        }


def verify_tracking(settings: Settings) -> list[ServiceVerification]:
    """Classify each service's tracking against its live schema; changes nothing."""
    from scrydon_migrate import verify

    report = []
    for svc, files, conn in _each_connected(settings, _selected(settings), with_files=True):
        report.append(ServiceVerification(svc.name, verify.read(conn, svc.tracking_table).classify(files)))
    return report


def _one_service(settings: Settings, command: str) -> ServiceSettings:
    if len(settings.services) != 1:
        raise ConfigError(
            f"{command} acts on one service: pass --service",
            hint="e.g. --service platform (services: " + ", ".join(s.name for s in settings.services) + ")",
        )
    return settings.services[0]


def operator() -> str:
    """Who runs a manual command: $MIGRATE_OPERATOR, else user@host."""
    import getpass
    import os
    import socket

    explicit = os.environ.get("MIGRATE_OPERATOR", "").strip()
    if explicit:
        return explicit
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = str(os.getuid())
    return f"{user}@{socket.gethostname()}"


@dataclass(frozen=True, slots=True)
class Rebaselined:
    service: str
    versions: dict[int, int]


def rebaseline(settings: Settings, *, versions: tuple[int, ...], reason: str) -> Rebaselined:
    """Support's audited way out of a desync after a person inspected it: record what exists now as expected.

    Never automatic and never suggested by ``up``; the runbook's "contact support" stays the operator's path.
    """
    from scrydon_migrate import record, tracking, verify

    svc = _one_service(settings, "tracking rebaseline")
    if not reason.strip():
        raise ConfigError("tracking rebaseline needs a --reason", hint='say what was inspected: --reason "..."')
    from scrydon_migrate import audit

    files = _scan(svc)
    with _databases(settings) as resolved:
        current = resolved.service(svc.name)
        with _connect(resolved, current) as conn:
            table, key = tracking.locate(conn, current.tracking_table)
            tracking.acquire_lock(conn, key, service=svc.name, wait_s=settings.lock_wait_s)
            try:
                audit.ensure_table(conn, table)
                state = verify.read(conn, table)
                records = verify.rebaselined(state, files, versions)
                with conn.transaction():
                    for version, found in records.items():
                        tracking.update(conn, table, version, {"effects": record.as_column(found)})
                    audit.record(
                        conn,
                        table,
                        service=svc.name,
                        event="MIGRATION_TRACKING_REBASELINED",
                        actor=operator(),
                        reason=reason.strip(),
                        details={"versions": {str(v): len(r.steps) for v, r in records.items()}},
                    )
            finally:
                tracking.release_lock(conn, key)
    log.event(
        logger,
        logging.WARNING,
        "tracking rebaselined: these migrations now expect what exists of their objects",
        "MIGRATION_TRACKING_REBASELINED",
        service=svc.name,
        versions=",".join(str(v) for v in records),
    )
    return Rebaselined(svc.name, {v: len(r.steps) for v, r in records.items()})


@dataclass(frozen=True, slots=True)
class MarkApplied:
    service: str
    version: int
    file: str | None
    previous_status: str | None
    changed: bool


def mark_applied(settings: Settings, *, version: int, reason: str, force: bool = False) -> MarkApplied:
    """The runbook's skip: record ``version`` as skipped (never run), with the reason and who decided."""
    from scrydon_migrate import db

    svc = _one_service(settings, "mark-applied")
    if not reason.strip():
        raise ConfigError("mark-applied needs a --reason", hint='say why skipping is safe: --reason "..."')
    files = {f.version: f for f in _scan(svc)}
    migration_file = files.get(version)
    if migration_file is None and not force:
        raise RefusedError(
            f"service {svc.name!r} has no migration file with version {version}",
            hint="check the version (scrydon-migrate status), or pass --force to record a version with no file",
            service=svc.name,
            version=version,
        )
    with _databases(settings) as resolved:
        current = resolved.service(svc.name)
        with _connect(resolved, current) as conn:
            import psycopg

            try:
                return _mark(conn, resolved, current, version, migration_file, reason.strip())
            except psycopg.errors.InsufficientPrivilege as exc:
                raise db.privilege_missing(conn, svc.name, exc) from None


def _mark(
    conn: psycopg.Connection,
    settings: Settings,
    svc: ServiceSettings,
    version: int,
    migration_file: source.MigrationFile | None,
    reason: str,
) -> MarkApplied:
    from scrydon_migrate import audit, runner, tracking
    from scrydon_migrate.tracking import Status

    table, key = tracking.locate(conn, svc.tracking_table)
    tracking.acquire_lock(conn, key, service=svc.name, wait_s=settings.lock_wait_s)
    try:
        with conn.transaction():
            audit.lock_bookkeeping_ddl(conn)
            tracking.ensure_table(conn, table, svc.name)
            audit.ensure_table(conn, table)
        rows = tracking.read_rows(conn, table) or {}
        row = rows.get(version)
        if row is not None and row.status is Status.APPLIED:
            raise RefusedError(
                f"migration {version} of service {svc.name!r} is already applied; there is nothing to skip",
                service=svc.name,
                version=version,
            )
        if row is not None and row.status is Status.SKIPPED:
            return MarkApplied(svc.name, version, row.file, row.status.value, changed=False)
        _refuse_skipping_ahead(settings, svc, version, rows)
        who = operator()
        with conn.transaction():
            tracking.upsert(
                conn,
                table,
                version,
                {
                    "name": migration_file.name if migration_file else None,
                    "file": migration_file.file if migration_file else None,
                    "content_sha256": migration_file.content_sha256 if migration_file else None,
                    "status": Status.SKIPPED.value,
                    "applied_at": runner.now(),
                    "applied_by": who,
                    "reason": reason,
                },
            )
            audit.record(
                conn,
                table,
                service=svc.name,
                event="MIGRATION_SKIPPED",
                version=version,
                actor=who,
                reason=reason,
                details={
                    "file": migration_file.file if migration_file else None,
                    "previous_status": row.status.value if row else None,
                    "previous_error": row.error if row else None,
                },
            )
    finally:
        with contextlib.suppress(Exception):
            tracking.release_lock(conn, key)
    log.event(
        logger,
        logging.WARNING,
        "marked migration applied without running it",
        "MIGRATION_SKIPPED",
        service=svc.name,
        version=version,
        file=migration_file.file if migration_file else None,
        actor=who,
        reason=reason,
    )
    return MarkApplied(
        svc.name,
        version,
        migration_file.file if migration_file else None,
        row.status.value if row else None,
        changed=True,
    )


def _refuse_skipping_ahead(settings: Settings, svc: ServiceSettings, version: int, rows: dict[int, TrackedRow]) -> None:
    """A skip beyond pending migrations would make every later ``up`` refuse them as out of order."""
    if settings.allow_out_of_order:
        return
    before = [
        f for f in _scan(svc) if f.version < version and not (f.version in rows and rows[f.version].counts_as_done)
    ]
    if before:
        names = ", ".join(f.file for f in before[:5]) + (", ..." if len(before) > 5 else "")
        raise RefusedError(
            f"can't mark migration {version} of service {svc.name!r} applied: {len(before)} earlier migration"
            f"{'s are' if len(before) > 1 else ' is'} not applied yet ({names}), and up would then refuse "
            f"{'them' if len(before) > 1 else 'it'} as out of order",
            hint="apply the earlier ones first (scrydon-migrate up), or mark them applied too, in order; "
            "--allow-out-of-order (MIGRATE_ALLOW_OUT_OF_ORDER) if running them later is intended",
            service=svc.name,
            version=version,
        )


@dataclass(frozen=True, slots=True)
class ServiceAudit:
    service: str
    events: tuple[audit.AuditEvent, ...] | None


def audit_events(
    settings: Settings, *, events: tuple[str, ...] = (), since: datetime | None = None, limit: int = 100
) -> list[ServiceAudit]:
    """The audit log of each service, newest first."""
    from scrydon_migrate import audit

    report = []
    for svc, _files, conn in _each_connected(settings, _lenient(settings)):
        found = audit.read(conn, svc.tracking_table, events=events, since=since, limit=limit)
        report.append(ServiceAudit(svc.name, None if found is None else tuple(found)))
    return report


def audit_verify(settings: Settings) -> list[tuple[str, audit.ChainCheck | None]]:
    """Each service's audit hash chain, recomputed on the server (``audit --verify``)."""
    from scrydon_migrate import audit

    return [
        (svc.name, audit.verify(conn, svc.tracking_table))
        for svc, _f, conn in _each_connected(settings, _lenient(settings))
    ]


def audit_recreate(settings: Settings) -> str:
    """Start a new, empty audit log on purpose where it is missing (``audit --recreate``), audited."""
    from scrydon_migrate import audit, tracking

    svc = _one_service(settings, "audit --recreate")
    with _databases(settings) as resolved:
        current = resolved.service(svc.name)
        with _connect(resolved, current) as conn:
            table, key = tracking.locate(conn, current.tracking_table)
            tracking.acquire_lock(conn, key, service=svc.name, wait_s=settings.lock_wait_s)
            try:
                audit.ensure_table(conn, table, recreate=True)
                audit.record(
                    conn,
                    table,
                    service=svc.name,
                    event="AUDIT_LOG_RECREATED",
                    actor=operator(),
                    reason="audit --recreate: the audit log was missing",
                )
            finally:
                with contextlib.suppress(Exception):
                    tracking.release_lock(conn, key)
    log.event(logger, logging.WARNING, "started a new, empty audit log", "AUDIT_LOG_RECREATED", service=svc.name)
    return audit.table_for(table)


def snapshot_create(settings: Settings, target: Path) -> list[snapshot.Manifest]:
    """Dump each selected service's database (the runbook's pre-upgrade snapshot)."""
    services = _selected(settings) if len(settings.services) > 1 else list(settings.services)
    manifests = []
    with _databases(settings) as resolved:
        for svc in services:
            current = resolved.service(svc.name)
            with _connect(resolved, current) as conn:
                manifests.append(_snapshot_one(conn, current, target))
    return manifests


def _pre_upgrade_snapshot(conn: psycopg.Connection, svc: ServiceSettings, target: Path, upgrade_to: int) -> None:
    """``up --snapshot-to``: one snapshot per upgrade, never replaced by a retry of the same upgrade."""
    from scrydon_migrate import snapshot

    kept = snapshot.taken_for(target, svc.name, upgrade_to)
    if kept is None:
        _snapshot_one(conn, svc, target, upgrade_to=upgrade_to)
        return
    log.event(
        logger,
        logging.INFO,
        "pre-upgrade snapshot of this upgrade already taken; kept, not overwritten",
        "SNAPSHOT_KEPT",
        service=svc.name,
        file=str(snapshot.paths(target, svc.name)[0]),
        taken_at=kept.created_at,
        upgrade_to=upgrade_to,
    )


def _snapshot_one(
    conn: psycopg.Connection, svc: ServiceSettings, target: Path, *, upgrade_to: int | None = None
) -> snapshot.Manifest:
    from scrydon_migrate import audit, snapshot, tracking

    assert svc.database_url is not None
    manifest = snapshot.create(conn, svc.name, svc.database_url, svc.tracking_table, target, upgrade_to=upgrade_to)
    log.event(
        logger,
        logging.INFO,
        "snapshot taken",
        "SNAPSHOT_TAKEN",
        service=svc.name,
        file=str(snapshot.paths(target, svc.name)[0]),
        bytes=manifest.dump_bytes,
    )
    if tracking.read_rows(conn, svc.tracking_table) is not None:
        table = tracking.resolve(conn, svc.tracking_table)
        try:
            audit.ensure_table(conn, table)
        except audit.AuditMissing as exc:
            log.event(
                logger, logging.WARNING, f"the snapshot is not audited: {exc.message}", exc.event, service=svc.name
            )
            return manifest
        audit.record(
            conn,
            table,
            service=svc.name,
            event="SNAPSHOT_TAKEN",
            actor=operator(),
            details={"file": str(snapshot.paths(target, svc.name)[0]), "sha256": manifest.dump_sha256},
        )
    return manifest


def snapshot_restore(settings: Settings, source_path: Path, *, yes: bool, force: bool = False) -> snapshot.Manifest:
    """Restore one service's database from a snapshot: refuses without ``yes``."""
    from scrydon_migrate import snapshot

    svc = _one_service(settings, "snapshot restore")
    manifest, dump = snapshot.read_manifest(source_path, svc.name)
    if not yes:
        raise RefusedError(
            f"restoring replaces every schema of service {svc.name!r}'s database with the snapshot of "
            f"{manifest.created_at}: pass --yes to confirm",
            hint="take a snapshot of the current state first if you may need it (scrydon-migrate snapshot create)",
            service=svc.name,
        )
    with _databases(settings) as resolved:
        current = resolved.service(svc.name)
        assert current.database_url is not None
        with _connect(resolved, current) as conn:
            tables = {s.name: s.default_tracking_table for s in settings.declared}
            others = snapshot.other_services_in(conn, svc.name, tables | {svc.name: svc.tracking_table})
            if others and not force:
                raise RefusedError(
                    f"the database of service {svc.name!r} also holds the tracking tables of {', '.join(others)}; "
                    "a restore would replace their schemas too",
                    hint="restore each service into its own database, or pass --force if that is intended",
                    service=svc.name,
                )
            mode, carried = _restore_locked(conn, resolved, current, dump, manifest)
    log.event(
        logger,
        logging.WARNING,
        "snapshot restored",
        "SNAPSHOT_RESTORED",
        service=svc.name,
        file=str(dump),
        taken_at=manifest.created_at,
        mode=mode,
        audit_events_kept=carried,
    )
    return manifest


def _restore_locked(
    conn: psycopg.Connection, settings: Settings, svc: ServiceSettings, dump: Path, manifest: snapshot.Manifest
) -> tuple[str, int]:
    """The restore under the service's migration lock, so no pod migrates into a half-restored database.

    The audit trail written since the snapshot (the failed upgrade's events) is read first (or, when
    an earlier attempt did not finish, the one it saved) and appended back after the restore, with the
    ``SNAPSHOT_RESTORED`` event and the end of the restore's record, in one transaction.
    """
    from scrydon_migrate import audit, snapshot, tracking

    assert svc.database_url is not None
    table, key = tracking.locate(conn, svc.tracking_table)
    tracking.acquire_lock(conn, key, service=svc.name, wait_s=settings.lock_wait_s)
    try:
        trail = snapshot.saved_trail(conn, svc.name) or snapshot.read_audit(conn, table)
        mode = snapshot.restore(
            conn, svc.name, svc.database_url, dump, lock_timeout_ms=settings.lock_timeout_ms, trail=trail
        )
        with conn.transaction():
            snapshot.mark_finished(conn, svc.name)
            audit.ensure_table(conn, table, recreate=True)  # the restore is the operator's explicit choice
            carried = snapshot.append_audit(conn, table, trail)
            audit.record(
                conn,
                table,
                service=svc.name,
                event="SNAPSHOT_RESTORED",
                actor=operator(),
                details={
                    "file": str(dump),
                    "taken_at": manifest.created_at,
                    "sha256": manifest.dump_sha256,
                    "mode": mode,
                    "audit_events_kept": carried,
                },
            )
    finally:
        with contextlib.suppress(Exception):
            tracking.release_lock(conn, key)
    return mode, carried


def run_doctor(settings: Settings) -> list[doctor.Finding]:
    """Read-only diagnoses for each service, with the runbook's fixes."""
    from scrydon_migrate import db, doctor

    services = _selected(settings) if len(settings.services) > 1 else list(settings.services)
    findings: list[doctor.Finding] = []
    with _databases(settings) as resolved:
        for svc in services:
            current = resolved.service(svc.name)
            database = db.describe(current.database_url or "")
            try:
                files = _scan(svc)
            except SourceError as exc:
                findings.append(doctor.from_error(svc.name, exc))
                continue
            try:
                conn = _connect(resolved, current)
            except DatabaseUnavailable as exc:
                findings.append(doctor.unreachable(svc.name, exc.message))
                continue
            with conn:
                findings.extend(doctor.diagnose(conn, resolved, current, files, database.rsplit("/", 1)[-1]))
    return findings


@dataclass(frozen=True, slots=True)
class ServiceBackfills:
    service: str
    backfills: tuple[backfill.Backfill, ...]


def backfill_status(settings: Settings) -> list[ServiceBackfills]:
    """Each service's backfills: state, progress, rate, ETA."""
    from scrydon_migrate import backfill

    return [
        ServiceBackfills(svc.name, tuple(backfill.list_backfills(conn, svc.tracking_table)))
        for svc, _files, conn in _each_connected(settings, _lenient(settings))
    ]


def backfill_run(
    settings: Settings,
    *,
    names: tuple[str, ...] = (),
    follow: bool = False,
    on_batch: Callable[[str, backfill.Backfill], None] | None = None,
) -> list[ServiceBackfills]:
    """The backfill worker: run the selected services' backfills until done (or forever with ``follow``)."""
    from scrydon_migrate import backfill, runner

    services = _lenient(settings)
    with _databases(settings) as resolved:
        connections = [
            (svc.name, resolved.service(svc.name), _connect(resolved, resolved.service(svc.name))) for svc in services
        ]
        try:
            while True:
                report: list[ServiceBackfills] = []
                for name, current, conn in connections:

                    def batch_done(b: backfill.Backfill, service: str = name) -> None:
                        if on_batch:
                            on_batch(service, b)

                    found = backfill.run(
                        conn,
                        current.tracking_table,
                        name,
                        worker=runner.applied_by(),
                        names=names,
                        on_batch=batch_done,
                    )
                    report.append(ServiceBackfills(name, tuple(found)))
                if not follow:
                    return report
                time.sleep(5.0)
        finally:
            for _, _, conn in connections:
                conn.close()


def backfill_control(settings: Settings, name: str, action: str) -> backfill.Backfill:
    """Pause, resume, retry or restart one backfill of one service (audited)."""
    from scrydon_migrate import backfill, tracking

    svc = _one_service(settings, f"backfill {action}")
    with _databases(settings) as resolved:
        current = resolved.service(svc.name)
        with _connect(resolved, current) as conn:
            table = tracking.resolve(conn, current.tracking_table)
            return backfill.control(conn, table, svc.name, name, action, operator())


def _lint_targets(
    settings: Settings, paths: tuple[Path, ...]
) -> list[tuple[str, list[source.MigrationFile], list[source.MigrationFile]]]:
    """(service, every file of its folder, the files to lint): given files or folders, else every service.

    A single file is linted with its folder's other migrations as history, so a rule sees the
    earlier release that marked a column unused, or the earlier CHECK that validated NOT NULL.
    """
    if not paths:
        return [(svc.name, files, files) for svc in _selected(settings) for files in [_scan(svc)]]
    targets: dict[tuple[str, Path], list[source.MigrationFile]] = {}
    folders: dict[tuple[str, Path], list[source.MigrationFile]] = {}
    for path in paths:
        folder = path if path.is_dir() else path.parent
        service = folder.name if folder.name in {s.name for s in settings.services} else settings.services[0].name
        if not path.exists():
            raise ConfigError(f"no such file or folder: {str(path)!r}", hint="give migration files or folders")
        found = source.scan(service, folder)
        chosen = found if path.is_dir() else [f for f in found if f.path.resolve() == path.resolve()]
        if not path.is_dir() and not chosen:
            raise ConfigError(f"{str(path)!r} is not a migration file (<version>_<slug>.sql)")
        folders[(service, folder.resolve())] = found
        targets.setdefault((service, folder.resolve()), []).extend(chosen)
    return [(service, folders[key], chosen) for key, chosen in targets.items() for service in [key[0]]]


def lint(
    settings: Settings, *, paths: tuple[Path, ...] = (), every_file: bool = False, use_database: bool = False
) -> list[lint_module.Finding]:
    """Lint migrations offline, or against live table sizes (pending migrations only) with a database."""
    from scrydon_migrate import guard
    from scrydon_migrate import lint as lint_module
    from scrydon_migrate import releases as releases_module

    rules = lint_module.load_rules()
    thresholds = guard_thresholds(settings)
    findings: list[lint_module.Finding] = []
    for service, files, selected in _lint_targets(settings, paths):
        history, broken = _load_all(files)
        wanted = {f.path for f in selected}
        findings.extend(f for f in broken if Path(f.file) in wanted)
        chosen = [m for m in history if m.file.path in wanted]
        sizes: dict[Any, Any] = {}
        if use_database:
            from scrydon_migrate import tracking

            svc = settings.service(service)
            with _connect(settings, svc) as conn:
                rows = tracking.read_rows(conn, svc.tracking_table) or {}
                if not every_file:
                    chosen = [m for m in history if m.version not in rows or not rows[m.version].counts_as_done]
                tables = _risky_tables(chosen) | _dml_tables(chosen)
                sizes = guard.read_sizes(conn, tables, chosen)
        folder = files[0].path.parent if files else None
        service_releases = releases_module.load(folder) if folder else None
        for migration in chosen:
            findings.extend(
                lint_module.lint_migration(
                    migration, rules, sizes=sizes, thresholds=thresholds, releases=service_releases, history=history
                )
            )
    return findings


def _risky_tables(migrations: list[source.Migration]) -> set[Any]:
    targets = (r.table or r.index for m in migrations for s in m.statements for r in s.locks.risks)
    return {t for t in targets if t is not None}


def _dml_tables(migrations: list[source.Migration]) -> set[Any]:
    return {
        r for m in migrations for s in m.statements for r in s.locks.relations if s.kind in {"UpdateStmt", "DeleteStmt"}
    }


def _load_all(files: list[source.MigrationFile]) -> tuple[list[source.Migration], list[lint_module.Finding]]:
    from scrydon_migrate import lint as lint_module

    loaded, broken = [], []
    for migration_file in files:
        try:
            loaded.append(source.load(migration_file))
        except SourceError as exc:
            broken.append(
                lint_module.Finding(
                    rule="invalid-migration",
                    severity=lint_module.Severity.ERROR,
                    message=exc.message,
                    help=exc.hint,
                    file=str(migration_file.path),
                    line=int(exc.fields.get("line") or 1),
                    service=migration_file.service,
                    version=migration_file.version_text,
                )
            )
    return loaded, broken


@dataclass(frozen=True, slots=True)
class Adoption:
    """What ``adopt`` found in the other tool's table and recorded (or would record, in a dry run)."""

    service: str
    tool: str
    table: str
    tracking_table: str
    adopted: tuple[tuple[source.MigrationFile, datetime | None], ...]
    already: tuple[int, ...]
    pending: tuple[source.MigrationFile, ...]
    out_of_order: tuple[source.MigrationFile, ...]
    written: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "service": self.service,
            "from": self.tool,
            "table": self.table,
            "tracking_table": self.tracking_table,
            "written": self.written,
            "adopted": [
                {"version": f.version_text, "file": f.file, "applied_at": at.isoformat() if at else None}
                for f, at in self.adopted
            ],
            "already_tracked": list(self.already),
            "pending": [f.file for f in self.pending],
            "out_of_order": [f.file for f in self.out_of_order],
        }


def adopt(settings: Settings, *, tool: str | None = None, table: str | None = None, yes: bool = False) -> Adoption:
    """Record as applied the files another tool already applied to the service's database (dry run unless ``yes``)."""
    from scrydon_migrate import adopt as adopting
    from scrydon_migrate import tracking

    svc = _one_service(settings, "adopt")
    files = _scan(svc)
    chosen_tool = adopting.Tool(tool) if tool else None
    with _databases(settings) as resolved:
        current = resolved.service(svc.name)
        with _connect(resolved, current) as conn:
            history = adopting.read_history(conn, svc.name, chosen_tool, table)
            chosen = adopting.decide(history, files, svc.name)
            if not yes:
                return _adoption(svc, history, files, chosen, tracking.read_rows(conn, svc.tracking_table) or {})
            return _adopt_locked(conn, settings, svc, history, files, chosen)


def _adoption(
    svc: ServiceSettings,
    history: History,
    files: list[source.MigrationFile],
    chosen: list[tuple[source.MigrationFile, datetime | None]],
    rows: dict[int, TrackedRow],
    *,
    written: bool = False,
) -> Adoption:
    """The adoption plan: refuses a version this tool already tracks as failed or running."""
    unsettled = [f for f, _ in chosen if f.version in rows and not rows[f.version].counts_as_done]
    if unsettled:
        first = unsettled[0]
        raise RefusedError(
            f"migration {first.version_text} ({first.file}) is {rows[first.version].status.value} in "
            f"{svc.tracking_table}, yet {history.label} records it as applied",
            hint="find out which is true: if the other tool's run is the right one, mark-applied it with a reason",
            service=svc.name,
            version=first.version_text,
        )
    adopted = tuple((f, at) for f, at in chosen if f.version not in rows)
    done = {f.version for f, _ in chosen} | {v for v, r in rows.items() if r.counts_as_done}
    pending = tuple(f for f in files if f.version not in done)
    newest = max(done, default=None)
    return Adoption(
        service=svc.name,
        tool=history.tool.value,
        table=history.table,
        tracking_table=svc.tracking_table,
        adopted=adopted,
        already=tuple(f.version for f, _ in chosen if f.version in rows),
        pending=pending,
        out_of_order=tuple(f for f in pending if newest is not None and f.version < newest),
        written=written,
    )


def _record_adopted_footprint(
    conn: psycopg.Connection, table: str, files: list[source.MigrationFile], versions: list[int]
) -> None:
    """The adopted migrations' record: the schema the other tool left, as the catalog reports it now.

    The newest adopted migration expects every object that exists and that no migration tracked
    here already expects; the others expect nothing of their own. None proves a repair safe.
    """
    from scrydon_migrate import record, tracking, verify

    if not versions:
        return
    state = verify.read(conn, table)
    newest = max(versions)
    footprint = verify.rebaselined(state, files, [newest], source="adopted")[newest]
    for version in versions:
        found = footprint if version == newest else record.Record((), "adopted", complete=False)
        tracking.update(conn, table, version, {"effects": record.as_column(found)})


def _adopt_locked(
    conn: psycopg.Connection,
    settings: Settings,
    svc: ServiceSettings,
    history: History,
    files: list[source.MigrationFile],
    chosen: list[tuple[source.MigrationFile, datetime | None]],
) -> Adoption:
    """Under the migration lock: record each adopted file as applied, with its audit row, in one transaction."""
    from scrydon_migrate import __version__, audit, runner, tracking
    from scrydon_migrate.tracking import Status

    table, key = tracking.locate(conn, svc.tracking_table)
    tracking.acquire_lock(conn, key, service=svc.name, wait_s=settings.lock_wait_s)
    try:
        tracking.ensure_table(conn, table, svc.name)
        audit.ensure_table(conn, table)
        result = _adoption(svc, history, files, chosen, tracking.read_rows(conn, table) or {}, written=True)
        migrations = [(source.load(f), at) for f, at in result.adopted]
        who = operator()
        reason = f"adopted from {history.label}: applied by that tool before this one took over"
        with conn.transaction():
            for migration, at in migrations:
                tracking.upsert(
                    conn,
                    table,
                    migration.version,
                    {
                        "name": migration.file.name,
                        "file": migration.file.file,
                        "checksum": migration.checksum,
                        "content_sha256": migration.file.content_sha256,
                        "status": Status.APPLIED.value,
                        "applied_at": at or runner.now(),
                        "applied_by": who,
                        "statements_done": len(migration.statements),
                        "statements_total": len(migration.statements),
                        "reason": reason,
                        "sql": migration.sql,
                        "tool_version": __version__,
                        "effects": None,
                    },
                )
                audit.record(
                    conn,
                    table,
                    service=svc.name,
                    event="MIGRATION_ADOPTED",
                    version=migration.version,
                    actor=who,
                    reason=reason,
                    details={"file": migration.file.file, "from": history.tool.value, "table": history.table},
                )
            _record_adopted_footprint(conn, table, files, [m.version for m, _ in migrations])
    finally:
        with contextlib.suppress(Exception):
            tracking.release_lock(conn, key)
    for migration, _ in migrations:
        log.event(
            logger,
            logging.INFO,
            "recorded migration as applied: the other tool had applied it",
            "MIGRATION_ADOPTED",
            service=svc.name,
            version=migration.file.version_text,
            file=migration.file.file,
            source=history.label,
        )
    return result
