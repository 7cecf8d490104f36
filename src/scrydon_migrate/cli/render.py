"""Results on stdout: aligned plain-text tables for people, JSON documents for machines.

Plain tables rather than rich: they cost nothing to import on the start-up path, read
the same in a pod log as in a terminal, and stay greppable.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, TypeGuard

if TYPE_CHECKING:
    from datetime import datetime

    from scrydon_migrate.api import (
        Adoption,
        MarkApplied,
        Rebaselined,
        ServiceAudit,
        ServiceBackfills,
        ServiceHistory,
        ServiceStatus,
        ServiceVerification,
    )
    from scrydon_migrate.backfill import Backfill
    from scrydon_migrate.doctor import Finding
    from scrydon_migrate.lint import Finding as LintFinding
    from scrydon_migrate.snapshot import Manifest
    from scrydon_migrate.startup import UpResult


def _echo(text: str = "", *, err: bool = False, nl: bool = True) -> None:
    """One line to stdout (or stderr), flushed: without click, so a no-op ``up`` renders before it loads."""
    stream = sys.stderr if err else sys.stdout
    stream.write(text + ("\n" if nl else ""))
    stream.flush()


def document(doc: Any) -> None:
    """``doc`` as JSON on stdout, every string in it redacted (see :func:`config.redact_document`)."""
    import json

    from scrydon_migrate.config import redact_document

    plain = json.loads(json.dumps(doc, default=_default))
    _echo(json.dumps(redact_document(plain), indent=2, ensure_ascii=False))


def audit_chains(checks: Sequence[tuple[str, Any]], *, as_json: bool) -> None:
    """``audit --verify``: each service's hash chain, intact or where it breaks."""
    if as_json:
        document([{"service": name, **(c.to_dict() if c else {"audit_log": None})} for name, c in checks])
        return
    for name, check in checks:
        if check is None:
            _echo(f"{name}: no audit log")
        elif check.intact:
            older = f" (+{check.unchained} older rows written before the chain)" if check.unchained else ""
            _echo(f"{name}: audit log intact, {check.rows - check.unchained} chained rows{older}")
        else:
            _echo(f"{name}: audit log BROKEN at id {check.broken_at}: {check.why}")


def _default(value: Any) -> Any:
    if _is_datetime(value):
        return value.isoformat()
    return str(value)


def _is_datetime(value: Any) -> TypeGuard[datetime]:
    """Whether ``value`` is a ``datetime``: none can exist before the module is imported, which a no-op
    ``up`` (rendered here) never does."""
    loaded = sys.modules.get("datetime")
    return loaded is not None and isinstance(value, loaded.datetime)


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    cells = [[_cell(v) for v in row] for row in rows]
    widths = [max([len(h), *(len(r[i]) for r in cells)]) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    lines.extend("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells)
    return "\n".join(lines)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if _is_datetime(value):
        return value.strftime("%Y-%m-%d %H:%M:%S%z")
    return str(value).replace("\n", " ")


def up_results(results: Sequence[UpResult], *, as_json: bool) -> None:
    if as_json:
        document(
            [
                {
                    "service": r.service,
                    "applied_now": [
                        {
                            "version": a.version,
                            "file": a.file,
                            "duration_ms": a.duration_ms,
                            "statements": a.statements,
                            "resumed_at_statement": a.resumed_at + 1 if a.resumed_at else None,
                        }
                        for a in r.applied
                    ],
                    "applied_total": r.total,
                    "took_lock": r.took_lock,
                    "waited_for_lock_s": round(r.waited_for_lock_s, 3),
                    "unknown_newer_versions": list(r.unknown_newer),
                    "missing_files": list(r.missing_files),
                }
                for r in results
            ]
        )
        return
    rows = [
        (
            r.service,
            len(r.applied),
            r.total,
            "applied " + ", ".join(a.version for a in r.applied) if r.applied else "up to date",
        )
        for r in results
    ]
    _echo(table(("service", "applied now", "applied total", "result"), rows))


def status(report: Sequence[ServiceStatus], *, as_json: bool) -> None:
    if as_json:
        document([s.to_dict() for s in report])
        return
    blocks = []
    for service in report:
        counts = ", ".join(f"{n} {state}" for state, n in sorted(service.counts.items())) or "no migrations"
        last = service.last_applied
        head = f"{service.service} — {service.database} — {service.tracking_table}: {counts}" + (
            f"; last applied {last.version} at {_cell(last.applied_at)}" if last else ""
        )
        rows = [(m.version, m.file, m.status, m.applied_at, m.detail) for m in service.migrations]
        blocks.append(head + "\n" + table(("version", "file", "status", "applied_at", "detail"), rows))
    _echo("\n\n".join(blocks))


def _version_text(row: dict[str, Any]) -> str:
    """The version as its file spells it (``0042``), else the number."""
    file = row.get("file") or ""
    prefix = file.split("_", 1)[0]
    return prefix if prefix.isdigit() and int(prefix) == row["version"] else str(row["version"])


def history(report: Sequence[ServiceHistory], *, as_json: bool) -> None:
    if as_json:
        document([{"service": h.service, "tracking_table": h.tracking_table, "rows": h.rows} for h in report])
        return
    blocks = []
    for entry in report:
        if entry.rows is None:
            blocks.append(f"{entry.service}: no {entry.tracking_table} table (migrations never ran)")
            continue
        rows = [
            (_version_text(r), r["status"], r["applied_at"], r["attempted_at"], r["file"], r["applied_by"])
            for r in entry.rows
        ]
        blocks.append(
            f"{entry.service} ({entry.tracking_table})\n"
            + table(("version", "status", "applied_at", "attempted_at", "file", "applied_by"), rows)
        )
    _echo("\n\n".join(blocks))


def verify(report: Sequence[ServiceVerification], *, as_json: bool) -> None:
    from scrydon_migrate.verify import advice, evidence

    if as_json:
        document([entry.to_dict() for entry in report])
        return
    blocks = []
    for entry in report:
        result = entry.result
        rows = [(v.label, v.state.value, len(v.expected), len(v.missing)) for v in result.verdicts]
        lines = [f"{entry.service}: {result.kind.value}"]
        if rows:
            lines.append(table(("migration", "objects", "expected", "missing"), rows))
        if result.kind != "healthy":
            lines.extend(evidence(result))
            lines.append(advice(result, entry.service))
        blocks.append("\n".join(lines))
    _echo("\n\n".join(blocks))


def mark_applied(result: MarkApplied, *, as_json: bool) -> None:
    if as_json:
        document(
            {
                "service": result.service,
                "version": result.version,
                "file": result.file,
                "previous_status": result.previous_status,
                "changed": result.changed,
            }
        )
        return
    state = "marked applied (skipped)" if result.changed else "was already skipped; nothing changed"
    _echo(f"{result.service} {result.version} ({result.file or 'no file'}): {state}")


def rebaselined(result: Rebaselined, *, as_json: bool) -> None:
    if as_json:
        document({"service": result.service, "versions": {str(v): n for v, n in result.versions.items()}})
        return
    for version, objects in result.versions.items():
        _echo(f"{result.service} {version}: now expects the {objects} objects of it that exist")


def adoption(result: Adoption, *, as_json: bool) -> None:
    if as_json:
        document(result.to_dict())
        return
    verb = "recorded as applied" if result.written else "would record as applied (dry run: nothing written)"
    lines = [f"{result.service}: from {result.tool}'s {result.table} into {result.tracking_table}, {verb}:"]
    if result.adopted:
        lines.append(
            table(["version", "file", "applied at"], [(f.version_text, f.file, at) for f, at in result.adopted])
        )
    else:
        lines.append("  nothing: every migration it applied is already tracked")
    if result.pending:
        lines.append(f"left pending for up: {', '.join(f.file for f in result.pending)}")
    if result.out_of_order:
        lines.append(
            "older than the newest adopted, so up refuses them unless --allow-out-of-order: "
            + ", ".join(f.file for f in result.out_of_order)
        )
    if not result.written and result.adopted:
        lines.append("re-run with --yes to write")
    _echo("\n".join(lines))


def audit(report: Sequence[ServiceAudit], *, as_json: bool) -> None:
    if as_json:
        document([{"service": a.service, "events": [e.to_dict() for e in a.events or ()]} for a in report])
        return
    blocks = []
    for entry in report:
        if entry.events is None:
            blocks.append(f"{entry.service}: no audit log yet")
            continue
        rows = [(e.at, e.event, e.version, e.actor, e.reason, _audit_details(e.event, e.details)) for e in entry.events]
        headers = ("at", "event", "version", "actor", "reason", "details")
        blocks.append(f"{entry.service}\n" + table(headers, rows))
    _echo("\n\n".join(blocks))


#: The details a backfill event shows in the text audit log, in this order.
_BACKFILL_DETAILS = ("backfill", "percent", "keys_done", "keys_total", "rows_done", "slices", "action", "error")


def _audit_details(event: str, details: dict[str, Any]) -> str:
    """A backfill event's progress (``backfill=x percent=42.0 keys_done=...``); other events' details stay in --json."""
    if not event.startswith("MIGRATION_BACKFILL_"):
        return ""
    return " ".join(f"{k}={details[k]}" for k in _BACKFILL_DETAILS if details.get(k) is not None)


def snapshots(manifests: Sequence[Manifest], *, as_json: bool) -> None:
    if as_json:
        document([m.to_dict() for m in manifests])
        return
    rows = [(m.service, m.dump_file, m.dump_bytes, m.created_at, len(m.tracking)) for m in manifests]
    _echo(table(("service", "dump", "bytes", "taken at", "tracked migrations"), rows))


def findings(found: Sequence[Finding], *, as_json: bool) -> None:
    if as_json:
        document([f.to_dict() for f in found])
        return
    if not found:
        _echo("no findings: every service looks healthy")
        return
    for finding in found:
        _echo(f"[{finding.severity.value}] {finding.service}: {finding.code}: {finding.summary}")
        _echo(f"    fix: {finding.fix}")


def backfills(report: Sequence[ServiceBackfills], *, as_json: bool) -> None:
    """``--json`` for machines; on a terminal a progress bar per backfill; a plain table in a log."""
    if as_json:
        document([{"service": e.service, "backfills": [b.to_dict() for b in e.backfills]} for e in report])
        return
    if sys.stdout.isatty() and any(e.backfills for e in report):
        _backfill_bars(report)
        return
    blocks = []
    for entry in report:
        if not entry.backfills:
            blocks.append(f"{entry.service}: no backfills")
            continue
        rows = [
            (b.name, b.shown_state, _percent(b), b.rows_done, _rate(b), _eta(b), b.table_name, _detail(b))
            for b in entry.backfills
        ]
        headers = ("backfill", "state", "progress", "rows done", "rate", "eta", "table", "detail")
        blocks.append(f"{entry.service}\n" + table(headers, rows))
    _echo("\n\n".join(blocks))


def _backfill_bars(report: Sequence[ServiceBackfills]) -> None:
    """rich, imported here only: a bar per backfill with its rate and ETA."""
    from rich.console import Console
    from rich.progress_bar import ProgressBar
    from rich.table import Table

    styles = {"completed": "green", "failed": "bold red", "stalled": "bold red", "paused": "yellow"}
    grid = Table(box=None, pad_edge=False)
    for header in ("service", "backfill", "state", "progress", "", "rows done", "rate", "eta", "detail"):
        grid.add_column(header, justify="right" if header in ("rows done", "rate", "eta", "") else "left")
    for entry in report:
        for b in entry.backfills:
            total = b.keys_total or max(b.keys_done, 1)
            done = total if b.shown_state == "completed" else min(b.keys_done, total)
            state = b.shown_state
            grid.add_row(
                entry.service,
                b.name,
                f"[{styles.get(state, 'cyan')}]{state}[/]",
                ProgressBar(total=total, completed=done, width=30),
                _percent(b),
                f"{b.rows_done:,}",
                _rate(b),
                _eta(b),
                _detail(b),
            )
    Console().print(grid)


def _percent(b: Backfill) -> str:
    return "-" if b.percent is None else f"{b.percent:.1f}%"


def _rate(b: Backfill) -> str:
    rate = b.rate_rows_per_s
    return "-" if rate is None else f"{rate:,.0f} rows/s"


def _eta(b: Backfill) -> str:
    eta = b.eta_s
    return "-" if eta is None else f"{int(eta // 60)}m{int(eta % 60):02d}s"


def _detail(b: Backfill) -> str:
    """Why it is not moving: its error, since when no worker beats, or what it waits for."""
    if b.error:
        return b.error
    if b.stalled_since:
        last = _cell(b.last_batch_at) if b.last_batch_at else "never"
        return f"no worker heartbeat since {_cell(b.stalled_since)} (last batch {last})"
    if b.throttled:
        return f"held back: {b.throttled}"
    if b.workers and b.state.value == "running":
        return f"{len(b.workers)} worker(s), {b.slice_count} slices"
    return ""


def backfills_changed(result: Backfill, action: str, *, as_json: bool) -> None:
    if as_json:
        document(result.to_dict() | {"action": action})
        return
    _echo(f"{result.name}: {action} done, now {result.state.value} ({_percent(result)})")


class BackfillProgress:
    """A one-line progress display on a terminal (stderr); silent otherwise."""

    def __init__(self, *, enabled: bool) -> None:
        import sys

        self.enabled = enabled and sys.stderr.isatty()
        self.shown = False

    def update(self, service: str, b: Backfill) -> None:
        if not self.enabled:
            return
        _echo(
            f"\r{service}/{b.name}: {_percent(b)} {b.rows_done:,} rows, {_rate(b)}, eta {_eta(b)}   ",
            err=True,
            nl=False,
        )
        self.shown = True

    def close(self) -> None:
        if self.shown:
            _echo("", err=True)


def lint(found: Sequence[LintFinding], *, as_json: bool, output_format: str) -> None:
    """The findings, written at once: a line at a time, flushed, is a write to the pipe per line in CI."""
    if as_json:
        document([f.to_dict() for f in found])
        return
    lines = []
    if output_format == "github":
        for f in found:
            level = {"error": "error", "warning": "warning"}.get(f.severity.value, "notice")
            message = f"{f.message}. {f.help}".replace("%", "%25").replace("\n", "%0A")
            lines.append(f"::{level} file={f.file},line={f.line},col={f.column},title={f.rule}::{message}")
        if lines:
            _echo("\n".join(lines))
        return
    for f in found:
        lines.append(f"{f.file}:{f.line}:{f.column}: {f.severity.value} {f.rule}: {f.message}")
        lines.append(f"    help: {f.help}")
        if f.suggestion:
            lines.append("    instead: " + f.suggestion.replace("\n", "\n             "))
    counts = {s: sum(1 for f in found if f.severity.value == s) for s in ("error", "warning", "info")}
    lines.append(f"{counts['error']} error(s), {counts['warning']} warning(s), {counts['info']} to review")
    _echo("\n".join(lines))
