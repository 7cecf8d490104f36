"""Diagnoses for the operator at 3 a.m.: read-only checks, each with the runbook's fix.

Each :class:`Finding` has a stable UPPER_SNAKE code, a severity, a one-line summary
and the exact next step. Nothing here writes to the database.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from scrydon_migrate import runner, tracking, verify
from scrydon_migrate.tracking import Status, TrackedRow

if TYPE_CHECKING:
    import psycopg

    from scrydon_migrate.config import ServiceSettings
    from scrydon_migrate.source import MigrationFile

NEVER_RAN_FIX = (
    "fix whatever kept a pod from becoming ready (see Install troubleshooting), then re-run the migrations: "
    "helm -n <ns> upgrade <release> <chart> --reuse-values  (the migration hook is pre-upgrade, so it runs "
    "before the readiness wait); or, if you can't run helm upgrade: helm -n <ns> get hooks <release> > "
    "/tmp/hooks.yaml, extract the *-migration-* Job manifests, kubectl -n <ns> apply -f /tmp/migrations.yaml, "
    "kubectl -n <ns> wait --for=condition=complete job -l app.kubernetes.io/name=scrydon --timeout=300s"
)
LOCK_HELD_WARN_S = 300


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


def diagnose(
    conn: psycopg.Connection, svc: ServiceSettings, files: Sequence[MigrationFile], database: str
) -> list[Finding]:
    """Every finding for one reachable service."""
    rows = tracking.read_rows(conn, svc.tracking_table)
    if rows is None:
        return list(_no_tracking_table(conn, svc, files, database))
    findings = list(_row_findings(svc, files, rows))
    result = verify.read(conn, svc.tracking_table).classify(files)
    if result.kind is not verify.Kind.HEALTHY:
        findings.append(
            Finding(
                "TRACKING_DESYNC",
                Severity.ERROR,
                svc.name,
                f"tracking desync ({result.kind.value}): " + "; ".join(verify.evidence(result)[:3]),
                verify.advice(result),
                {"kind": result.kind.value, "rewind_from": result.rewind_from.version if result.rewind_from else None},
            )
        )
    findings.extend(_lock_findings(conn, svc))
    findings.extend(_invalid_indexes(conn, svc))
    findings.extend(_backfill_findings(conn, svc))
    if os.environ.get("MIGRATE_REPAIR_TRACKING", "").strip().lower() in {"1", "true", "yes", "on"}:
        findings.append(
            Finding(
                "REPAIR_TRACKING_LEFT_ON",
                Severity.WARNING,
                svc.name,
                "MIGRATE_REPAIR_TRACKING is set: the break-glass repair flag is still on",
                "set <service>.migration.repairTracking back to false once the repair upgrade succeeded",
            )
        )
    return findings


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
    svc: ServiceSettings, files: Sequence[MigrationFile], rows: dict[int, TrackedRow]
) -> Iterator[Finding]:
    plan = runner.make_plan(svc.name, files, rows)
    for row in sorted(rows.values(), key=lambda r: r.version):
        if row.status is Status.FAILED:
            yield Finding(
                "MIGRATION_FAILED",
                Severity.ERROR,
                svc.name,
                f"migration {row.version} ({row.file}) failed at line {row.failed_line} [{row.sqlstate}]: {row.error}",
                "fix forward: correct the statement in the file and restart; skip (if safe): "
                f'scrydon-migrate mark-applied --service {svc.name} --version {row.version} --reason "..."; '
                "or restore the pre-upgrade snapshot: scrydon-migrate snapshot restore "
                f"--service {svc.name} --from <snapshot> --yes",
                {"version": row.version, "file": row.file, "statement": row.failed_statement},
            )
        elif row.status is Status.RUNNING:
            yield Finding(
                "MIGRATION_PARTLY_APPLIED",
                Severity.ERROR,
                svc.name,
                f"migration {row.version} ({row.file}) stopped after statement {row.statements_done} "
                f"of {row.statements_total}",
                "restart the migration job: up resumes it at the next statement",
                {"version": row.version, "statements_done": row.statements_done},
            )
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


def _lock_findings(conn: psycopg.Connection, svc: ServiceSettings) -> Iterator[Finding]:
    holder = tracking.lock_holder(conn, tracking.locate(conn, svc.tracking_table)[1])
    if holder is None:
        return
    held = conn.execute("SELECT extract(epoch FROM now() - %s)", (holder.since,)).fetchone()
    seconds = float(held[0]) if held and held[0] is not None else 0.0
    yield Finding(
        "MIGRATION_LOCK_HELD",
        Severity.WARNING if seconds >= LOCK_HELD_WARN_S else Severity.INFO,
        svc.name,
        f"the migration lock is held by pid {holder.pid} ({holder.application_name or 'no application_name'}) "
        f"for {int(seconds)} s",
        "a migration is running: watch its pod's log; if that pod is gone and the session is stuck, "
        f"end it with SELECT pg_terminate_backend({holder.pid})",
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


def _invalid_indexes(conn: psycopg.Connection, svc: ServiceSettings) -> Iterator[Finding]:
    rows = conn.execute(
        "SELECT i.indexrelid::regclass::text, i.indrelid::regclass::text FROM pg_index i"
        " JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE NOT i.indisvalid AND n.nspname NOT LIKE 'pg\\_%'"
    ).fetchall()
    for index, table in rows:
        yield Finding(
            "INVALID_INDEX",
            Severity.WARNING,
            svc.name,
            f"index {index} on {table} is INVALID (a concurrent build failed or was killed)",
            f"if its migration is pending, up drops and rebuilds it; otherwise: DROP INDEX CONCURRENTLY {index}; "
            "then build it again",
            {"index": index, "table": table},
        )
