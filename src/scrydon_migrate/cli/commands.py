"""The ``scrydon-migrate`` command: a thin layer over :mod:`scrydon_migrate.api`.

Commands parse flags (each has a ``MIGRATE_*`` environment variable), build
Settings, call the API and hand the result to :mod:`.render`. :func:`run_command_line` is the one
place where an error becomes output and an exit code (see ``ExitCode``).
"""

from __future__ import annotations

import gc
import json
import logging
import os
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from scrydon_migrate import __version__, log
from scrydon_migrate.errors import ExitCode, MigrateError

F = TypeVar("F", bound=Callable[..., Any])
logger = logging.getLogger("scrydon_migrate.cli")


class _State:
    json_output = False


def _service_options(func: F) -> F:
    options = [
        click.option(
            "--service",
            "-s",
            "services",
            multiple=True,
            metavar="NAME",
            help="Service to act on (repeatable): platform (auth), agentic, analytics, ontology "
            "(apiOntology), cortex, or the [[service]] tables of the config file. Default: every service "
            "with a migrations folder. [env: MIGRATE_SERVICE]",
        ),
        click.option(
            "--database-url",
            metavar="URL",
            help="PostgreSQL URL for the selected service(s). Default: <SERVICE>_DATABASE_URL, "
            "MIGRATE_DATABASE_URL, DATABASE_URL, the config file, else the embedded PostgreSQL.",
        ),
        click.option(
            "--migrations-dir",
            type=click.Path(file_okay=False, path_type=Path),
            metavar="DIR",
            help="The service's migrations folder (one service), or the root holding "
            "<service>/ folders. Default: ./migrations. [env: MIGRATE_MIGRATIONS_DIR]",
        ),
        click.option(
            "--config",
            "config_file",
            type=click.Path(dir_okay=False, path_type=Path),
            metavar="FILE",
            help="TOML settings file. Default: ./scrydon-migrate.toml if present. [env: MIGRATE_CONFIG]",
        ),
        click.option(
            "--embedded-dir",
            type=click.Path(file_okay=False, path_type=Path),
            metavar="DIR",
            help="Folder of the embedded PostgreSQL used when no URL is set. "
            "Default: ./.scrydon-migrate. [env: MIGRATE_EMBEDDED_DIR]",
        ),
        click.option(
            "--quiet",
            "-q",
            is_flag=True,
            expose_value=False,
            callback=_quiet,
            help="Log warnings and errors only.",
        ),
        click.option(
            "--json",
            "json_output",
            is_flag=True,
            envvar="MIGRATE_JSON",
            help="Print the result as JSON on stdout. [env: MIGRATE_JSON]",
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _quiet(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    if value:
        logging.getLogger("scrydon_migrate").setLevel(logging.WARNING)


def _settings(**kwargs: Any) -> Any:
    from scrydon_migrate.config import load_settings

    _State.json_output = bool(kwargs.pop("json_output", False))
    services = kwargs.pop("services", ()) or None
    return load_settings(services=services, **kwargs)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="scrydon-migrate")
@click.option(
    "--log-format",
    type=click.Choice(["text", "json"]),
    envvar="MIGRATE_LOG_FORMAT",
    default="text",
    show_default=True,
    help="Format of the log lines on stderr. [env: MIGRATE_LOG_FORMAT]",
)
@click.option("--quiet", "-q", is_flag=True, help="Log warnings and errors only.")
def cli(log_format: str, quiet: bool) -> None:
    """Forward-only PostgreSQL migrations for Scrydon's services.

    Each service (platform, agentic, analytics, ontology, cortex) applies its own
    migrations from migrations/<service>/ and records them in <service>_migrations.
    With no database URL configured, commands use an embedded PostgreSQL kept in
    ./.scrydon-migrate.
    """
    log.configure("migrate-bootstrap", fmt=log_format, level=logging.WARNING if quiet else logging.INFO)


@cli.command()
@_service_options
@click.option(
    "--lock-wait",
    "lock_wait_s",
    type=click.FloatRange(min=0),
    metavar="SECONDS",
    help="How long to wait for another pod's migration run before giving up (exit 4). "
    "Default: 600. [env: MIGRATE_LOCK_WAIT]",
)
@click.option(
    "--wait-for-db",
    "wait_for_db_s",
    type=click.FloatRange(min=0),
    metavar="SECONDS",
    help="How long to retry connecting to a database that is not up yet. Default: 0. [env: MIGRATE_WAIT_FOR_DB]",
)
@click.option(
    "--allow-out-of-order",
    is_flag=True,
    default=None,
    help="Apply a pending migration older than the newest applied one. [env: MIGRATE_ALLOW_OUT_OF_ORDER]",
)
@click.option(
    "--snapshot-to",
    type=click.Path(path_type=Path),
    metavar="DIR",
    help="Take a snapshot (pg_dump) of each service with pending migrations into DIR before applying. "
    "[env: MIGRATE_SNAPSHOT_TO]",
)
@click.option(
    "--repair-tracking",
    is_flag=True,
    default=None,
    help="Break-glass: rewind a provably repairable tracking desync and apply those migrations again. "
    "Set it for one run only. [env: MIGRATE_REPAIR_TRACKING=1]",
)
@click.option(
    "--lock-timeout-ms",
    type=click.IntRange(min=0),
    metavar="MS",
    help="How long one statement may wait for a table lock before it is rolled back and retried "
    "(writers queue behind it that long at most). Default: 2000. [env: MIGRATE_LOCK_TIMEOUT_MS]",
)
@click.option(
    "--lock-retries",
    type=click.IntRange(min=0),
    metavar="N",
    help="Retries after a lock timeout, with exponential backoff. Default: 6. [env: MIGRATE_LOCK_RETRIES]",
)
@click.option(
    "--lock-budget-ms",
    type=click.IntRange(min=0),
    metavar="MS",
    help="Longest a statement may hold a lock that blocks writes while writers wait, or at all on a large "
    "table: past it the statement is cancelled and its migration rolled back. 0 turns it off. "
    "Default: 5000. [env: MIGRATE_LOCK_BUDGET_MS]",
)
@click.option(
    "--statement-timeout-ms",
    type=click.IntRange(min=0),
    metavar="MS",
    help="Longest a migration statement may run (concurrent index builds are exempt). 0 turns it off. "
    "Default: 3600000 (1 hour). [env: MIGRATE_STATEMENT_TIMEOUT_MS]",
)
@click.option(
    "--large-table-rows",
    type=click.IntRange(min=0),
    metavar="ROWS",
    help="A table with at least this many (estimated) rows is large: lock-the-table steps on it are refused. "
    "Default: 1000000. [env: MIGRATE_LARGE_TABLE_ROWS]",
)
@click.option(
    "--large-table-bytes",
    type=click.IntRange(min=0),
    metavar="BYTES",
    help="A table of at least this total size is large. Default: 536870912 (512 MiB). [env: MIGRATE_LARGE_TABLE_BYTES]",
)
def up(**kwargs: Any) -> None:
    """Apply every pending migration, in version order, for each service.

    Safe to run from every pod of a rolling update: the first takes the service's
    lock and applies; the others wait, see the work done and exit 0.

    Example: scrydon-migrate up --service platform
    """
    from scrydon_migrate import startup
    from scrydon_migrate.cli import render

    settings = _settings(**kwargs)
    results = startup.proven_up_to_date(settings)
    if results is None:
        from scrydon_migrate import api

        results = api.up(settings)
    render.up_results(results, as_json=_State.json_output)


@cli.command()
@_service_options
@click.option("--exit-code", is_flag=True, help="Exit 1 when a migration is pending, failed or partly applied.")
def status(exit_code: bool, **kwargs: Any) -> None:
    """Show each service's migrations: applied, pending, failed, skipped, unknown newer.

    Example: scrydon-migrate status --service analytics --json
    """
    from scrydon_migrate import api
    from scrydon_migrate.cli import render

    report = api.status(_settings(**kwargs))
    render.status(report, as_json=_State.json_output)
    if exit_code and any(
        m.status in {"pending", "failed", "running"} for service in report for m in service.migrations
    ):
        sys.exit(ExitCode.FINDINGS)


@cli.command("mark-applied")
@_service_options
@click.option("--version", "version", type=click.IntRange(min=0), required=True, help="The migration's version.")
@click.option("--reason", required=True, help="Why skipping it is safe (recorded and audited).")
@click.option("--force", is_flag=True, help="Record a version that has no migration file.")
def mark_applied(version: int, reason: str, force: bool, **kwargs: Any) -> None:
    """Skip a migration: record it as applied without running it (the runbook's skip path).

    The row is stored with status 'skipped', the reason and who decided ($MIGRATE_OPERATOR,
    else user@host), audited as MIGRATION_SKIPPED, and never run. Refuses an applied version.

    Example: scrydon-migrate mark-applied --service platform --version 42 --reason "index exists already"
    """
    from scrydon_migrate import api
    from scrydon_migrate.cli import render

    result = api.mark_applied(_settings(**kwargs), version=version, reason=reason, force=force)
    render.mark_applied(result, as_json=_State.json_output)


@cli.group("tracking")
def tracking_group() -> None:
    """Support's tools for the tracking table (never needed by an operator following the runbook)."""


@tracking_group.command("rebaseline")
@_service_options
@click.option("--version", "versions", type=click.IntRange(min=0), multiple=True, required=True, help="Repeatable.")
@click.option("--reason", required=True, help="What was inspected and why this is right (recorded and audited).")
def tracking_rebaseline(versions: tuple[int, ...], reason: str, **kwargs: Any) -> None:
    """Make applied migrations expect exactly what exists of their objects now, after a person inspected them.

    For support, on a desync that `up` reports as partial or non-contiguous and that was found to be
    harmless. Audited as MIGRATION_TRACKING_REBASELINED; `up` never suggests or does it.

    Example: scrydon-migrate tracking rebaseline --service platform --version 41 --reason "ticket 123: DBA dropped it"
    """
    from scrydon_migrate import api
    from scrydon_migrate.cli import render

    result = api.rebaseline(_settings(**kwargs), versions=versions, reason=reason)
    render.rebaselined(result, as_json=_State.json_output)


@cli.command("adopt")
@_service_options
@click.option(
    "--from",
    "tool",
    type=click.Choice(
        ["golang-migrate", "dbmate", "flyway", "diesel", "alembic", "goose", "sql-migrate", "postgres-migrations"]
    ),
    envvar="MIGRATE_ADOPT_FROM",
    help="The tool that migrated the database. Default: the one whose table is found. [env: MIGRATE_ADOPT_FROM]",
)
@click.option(
    "--table",
    metavar="NAME",
    envvar="MIGRATE_ADOPT_TABLE",
    help="That tool's tracking table, when renamed (schema.table allowed). [env: MIGRATE_ADOPT_TABLE]",
)
@click.option("--yes", is_flag=True, help="Write: without it, adopt only shows what it would record.")
def adopt_command(tool: str | None, table: str | None, yes: bool, **kwargs: Any) -> None:
    """Take over a database another tool migrated: record what it applied as applied.

    Reads the tracking table of golang-migrate, dbmate, Flyway, Diesel, Alembic, goose,
    sql-migrate or postgres-migrations in the service's database, matches it to the service's
    migration files, and (with --yes) records those files as applied, audited as
    MIGRATION_ADOPTED, so that up continues from there without running them again. Without
    --yes it changes nothing and shows the plan.

    Example: scrydon-migrate adopt --service platform --from golang-migrate --yes
    """
    from scrydon_migrate import api
    from scrydon_migrate.cli import render

    result = api.adopt(_settings(**kwargs), tool=tool, table=table, yes=yes)
    render.adoption(result, as_json=_State.json_output)


@cli.command("audit")
@_service_options
@click.option("--event", "events", multiple=True, metavar="NAME", help="Only this event (repeatable; * wildcard).")
@click.option("--since", type=click.DateTime(), help="Only events at or after this time (UTC).")
@click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True, help="Events per service.")
@click.option("--verify", "check", is_flag=True, help="Check the log's hash chain instead (exit 1 if broken).")
@click.option("--recreate", is_flag=True, help="Start a new, empty audit log where it is missing (audited).")
def audit_command(events: tuple[str, ...], since: Any, limit: int, check: bool, recreate: bool, **kwargs: Any) -> None:
    """Read the audit log: migrations applied, failed, skipped, tracking repaired, snapshots, backfills.

    Example: scrydon-migrate audit --service analytics --event 'MIGRATION_BACKFILL_*' --json
    """
    from datetime import UTC

    from scrydon_migrate import api
    from scrydon_migrate.cli import render

    if recreate:
        click.echo(f"started a new, empty audit log: {api.audit_recreate(_settings(**kwargs))}")
        return
    if check:
        checks = api.audit_verify(_settings(**kwargs))
        render.audit_chains(checks, as_json=_State.json_output)
        if any(c is not None and not c.intact for _, c in checks):
            sys.exit(ExitCode.FINDINGS)
        return

    since_utc = since.replace(tzinfo=UTC) if since is not None and since.tzinfo is None else since
    report = api.audit_events(_settings(**kwargs), events=events, since=since_utc, limit=limit)
    render.audit(report, as_json=_State.json_output)


@cli.group("snapshot")
def snapshot_group() -> None:
    """Take and restore PostgreSQL snapshots of the services' databases (the runbook's restore path)."""


@snapshot_group.command("create")
@_service_options
@click.option(
    "--to",
    "target",
    type=click.Path(path_type=Path),
    required=True,
    metavar="PATH",
    help="A folder (one <service>.dump and manifest per service), or a .dump file for one service.",
)
def snapshot_create(target: Path, **kwargs: Any) -> None:
    """Dump each service's database with pg_dump -Fc, with a manifest of its tracking state.

    Example: scrydon-migrate snapshot create --to /backups/pre-upgrade-2026-11-24
    """
    from scrydon_migrate import api
    from scrydon_migrate.cli import render

    render.snapshots(api.snapshot_create(_settings(**kwargs), target), as_json=_State.json_output)


@snapshot_group.command("restore")
@_service_options
@click.option(
    "--from",
    "source_path",
    type=click.Path(path_type=Path),
    required=True,
    metavar="PATH",
    help="The folder given to 'snapshot create --to', or the service's .dump file.",
)
@click.option("--yes", is_flag=True, help="Confirm: every schema of the service's database is replaced.")
@click.option("--force", is_flag=True, help="Restore even if the database holds other services' tables.")
def snapshot_restore(source_path: Path, yes: bool, force: bool, **kwargs: Any) -> None:
    """Restore one service's database from a snapshot (verifies the manifest first).

    Example: scrydon-migrate snapshot restore --service platform --from /backups/pre-upgrade --yes
    """
    from scrydon_migrate import api
    from scrydon_migrate.cli import render

    manifest = api.snapshot_restore(_settings(**kwargs), source_path, yes=yes, force=force)
    render.snapshots([manifest], as_json=_State.json_output)


@cli.group("backfill")
def backfill_group() -> None:
    """Run and control background backfills (progress is audited as MIGRATION_BACKFILL_* events).

    A migration declares a backfill; up only registers it. The worker runs it in small
    keyed batches, each committed with its checkpoint, so it can be paused, resumed and
    restarted from where it left off.
    """


@backfill_group.command("run")
@_service_options
@click.option("--name", "names", multiple=True, metavar="NAME", help="Only this backfill (repeatable).")
@click.option("--follow", is_flag=True, help="Keep running and pick up new backfills (a long-running Job).")
def backfill_run(names: tuple[str, ...], follow: bool, **kwargs: Any) -> None:
    """Run the registered backfills until they complete (foreground, with progress).

    Example: scrydon-migrate backfill run --service platform
    """
    from scrydon_migrate import api
    from scrydon_migrate.cli import render

    gc.enable()
    progress = render.BackfillProgress(enabled=not _State.json_output)
    report = api.backfill_run(_settings(**kwargs), names=names, follow=follow, on_batch=progress.update)
    progress.close()
    render.backfills(report, as_json=_State.json_output)
    if any(b.state == "failed" for entry in report for b in entry.backfills):
        sys.exit(ExitCode.MIGRATION_FAILED)


@backfill_group.command("status")
@_service_options
def backfill_status(**kwargs: Any) -> None:
    """Each backfill's state, progress, rows done, rate and ETA.

    Example: scrydon-migrate backfill status --json
    """
    from scrydon_migrate import api
    from scrydon_migrate.cli import render

    render.backfills(api.backfill_status(_settings(**kwargs)), as_json=_State.json_output)


def _backfill_control(action: str, summary: str) -> None:
    @backfill_group.command(
        action,
        help=summary + "\n\nExample: scrydon-migrate backfill " + action + " --service platform users_email_domain",
    )
    @_service_options
    @click.argument("name")
    def command(name: str, **kwargs: Any) -> None:
        from scrydon_migrate import api
        from scrydon_migrate.cli import render

        result = api.backfill_control(_settings(**kwargs), name, action)
        render.backfills_changed(result, action, as_json=_State.json_output)


_backfill_control("pause", "Pause a backfill; takes effect after the batch that is running.")
_backfill_control("resume", "Resume a paused backfill from its checkpoint.")
_backfill_control("retry", "Retry a failed backfill from its checkpoint.")
_backfill_control("restart", "Restart a backfill from the first key, on purpose.")


@cli.command("lint")
@_service_options
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("--all", "every_file", is_flag=True, help="With a database: lint every file, not only pending ones.")
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["text", "github"]),
    default="text",
    show_default=True,
    help="text for people; github for workflow annotations (--json for machines).",
)
def lint_command(paths: tuple[Path, ...], every_file: bool, output_format: str, **kwargs: Any) -> None:
    """Lint migrations for steps that lock a large table, and other hazards (offline by default).

    With --database-url (or a URL in the environment) the live table sizes are used:
    a lock rule that is a warning on a small table is an error on a large one, and only
    pending migrations are linted unless --all. Exit 1 on a warning or an error.

    Example: scrydon-migrate lint migrations/platform/0042_add_org_region.sql
    """
    from scrydon_migrate import api
    from scrydon_migrate.cli import render

    use_database = bool(kwargs.get("database_url")) or _url_in_environment()
    findings = api.lint(_settings(**kwargs), paths=paths, every_file=every_file, use_database=use_database)
    render.lint(findings, as_json=_State.json_output, output_format=output_format)
    if any(f.severity != "info" for f in findings):
        sys.exit(ExitCode.FINDINGS)


def _url_in_environment() -> bool:
    return any(k.endswith("DATABASE_URL") and v.strip() for k, v in os.environ.items())


class _NewGroup(click.Group):
    """``new SLUG`` is ``new migration SLUG``; ``new deprecate-column ...`` is its own command."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and not any(a in self.commands for a in args) and args[0] not in ("-h", "--help"):
            args = ["migration", *args]
        return super().parse_args(ctx, args)


@cli.group("new", cls=_NewGroup)
def new_group() -> None:
    """Scaffold migrations: 'new SLUG' for one file, 'new deprecate-column' for a column's replacement.

    Example: scrydon-migrate new --service platform add_org_region
    """


def _folder(kwargs: dict[str, Any]) -> tuple[str, Path]:
    settings = _settings(**kwargs)
    if len(settings.services) != 1:
        raise click.UsageError("pass --service: a migration belongs to one service")
    return settings.services[0].name, settings.services[0].migrations_dir


@new_group.command("migration")
@_service_options
@click.argument("slug")
@click.option("--new-release", is_flag=True, help="Start a new release with this migration (releases.toml).")
def new_migration(slug: str, new_release: bool, **kwargs: Any) -> None:
    """Write an empty migration with the next version.

    Example: scrydon-migrate new --service platform add_org_region
    """
    from scrydon_migrate import scaffold

    service, folder = _folder(kwargs)
    made = scaffold.new_migration(service, folder, slug, new_release=new_release)
    click.echo(f"{made.path} (release {made.release})")


@new_group.command("deprecate-column")
@_service_options
@click.option("--table", required=True, help="The table.")
@click.option("--column", "old", required=True, help="The column to replace.")
@click.option("--to", "new", required=True, help="The new column's name.")
@click.option("--type", "column_type", default="text", show_default=True, help="The new column's SQL type.")
@click.option("--key", default="id", show_default=True, help="The table's key, for the backfill's batches.")
def deprecate_column(table: str, old: str, new: str, column_type: str, key: str, **kwargs: Any) -> None:
    """Write the runbook's column soft-deprecation across the next three releases.

    Release N+1 adds the new column, keeps both in sync and backfills it; N+2 stops using
    the old one; N+3 drops it. The linter checks the drop comes in a later release.

    Example: scrydon-migrate new deprecate-column --service platform --table users --column full_name --to name
    """
    from scrydon_migrate import scaffold

    service, folder = _folder(kwargs)
    for made in scaffold.deprecate_column(
        service, folder, table=table, old=old, new=new, column_type=column_type, key=key
    ):
        click.echo(f"{made.path} (release {made.release})")


@cli.command("doctor")
@_service_options
def doctor_command(**kwargs: Any) -> None:
    """Diagnose each service (read-only) and print the runbook's fix for each finding.

    Finds every state in which up exits non-zero (unreachable database, a transaction
    pooler, missing privileges, a damaged tracking table or dropped audit log, bad or edited
    files, refusals, failed or partly applied migrations, tracking desync, a long-held
    migration lock), and failed or stalled backfills, INVALID indexes, the repair flag left
    on, newer unknown versions. Exits 1 when a finding is an error.

    Example: scrydon-migrate doctor --json
    """
    from scrydon_migrate import api
    from scrydon_migrate.cli import render

    findings = api.run_doctor(_settings(**kwargs))
    render.findings(findings, as_json=_State.json_output)
    if any(f.severity == "error" for f in findings):
        sys.exit(ExitCode.FINDINGS)


@cli.command("verify")
@_service_options
def verify_command(**kwargs: Any) -> None:
    """Check each service's tracking table against its live schema (read-only).

    Prints, per service, whether each applied migration's objects exist, and the
    classification: healthy, repairable, partial or non-contiguous. Exits 1 on a desync.

    Example: scrydon-migrate verify --service analytics
    """
    from scrydon_migrate import api
    from scrydon_migrate.cli import render

    report = api.verify_tracking(_settings(**kwargs))
    render.verify(report, as_json=_State.json_output)
    if any(entry.result.kind != "healthy" for entry in report):
        sys.exit(ExitCode.FINDINGS)


@cli.command()
@_service_options
@click.option("--limit", type=click.IntRange(min=1), default=20, show_default=True, help="Rows per service.")
def history(limit: int, **kwargs: Any) -> None:
    """The runbook's verification query for each service, newest first.

    Runs SELECT version, applied_at FROM <service>_migrations ORDER BY applied_at DESC.

    Example: scrydon-migrate history --service platform --limit 5
    """
    from scrydon_migrate import api
    from scrydon_migrate.cli import render

    render.history(api.history(_settings(**kwargs), limit=limit), as_json=_State.json_output)


@cli.command("config")
@_service_options
def show_config(**kwargs: Any) -> None:
    """Show the resolved settings (passwords masked).

    Example: scrydon-migrate config --service platform
    """
    from scrydon_migrate.cli import render

    render.document(_settings(**kwargs).redacted())


@cli.group()
def embedded() -> None:
    """Run the embedded PostgreSQL yourself (to keep it up between commands, or use psql).

    Commands that need a database and have no URL start it for their own run and stop
    it after, unless it was started here.
    """


def _embedded_dir(embedded_dir: Path | None) -> Path:
    from scrydon_migrate.config import _resolve_embedded_dir

    return _resolve_embedded_dir(embedded_dir, os.environ, {}, Path.cwd())


_embedded_dir_option = click.option(
    "--embedded-dir",
    type=click.Path(file_okay=False, path_type=Path),
    metavar="DIR",
    help="Folder of the embedded PostgreSQL. Default: ./.scrydon-migrate. [env: MIGRATE_EMBEDDED_DIR]",
)


@embedded.command("start")
@_embedded_dir_option
def embedded_start(embedded_dir: Path | None) -> None:
    """Start the embedded PostgreSQL and print its URL; it keeps running until `embedded stop`."""
    from scrydon_migrate import embedded as pg

    server = pg.start(pg.data_dir_for(_embedded_dir(embedded_dir)))
    click.echo(server.url())
    log.event(
        logger,
        logging.INFO,
        "embedded PostgreSQL " + ("started" if server.started_here else "was already running"),
        "EMBEDDED_STARTED" if server.started_here else "EMBEDDED_RUNNING",
        data_dir=str(server.data_dir),
        port=server.port,
    )


@embedded.command("stop")
@_embedded_dir_option
def embedded_stop(embedded_dir: Path | None) -> None:
    """Stop the embedded PostgreSQL (its data stays for the next run)."""
    from scrydon_migrate import embedded as pg

    stopped = pg.stop(pg.data_dir_for(_embedded_dir(embedded_dir)))
    log.event(
        logger,
        logging.INFO,
        "embedded PostgreSQL stopped" if stopped else "embedded PostgreSQL was not running",
        "EMBEDDED_STOPPED",
    )


@embedded.command("url")
@_embedded_dir_option
@click.option("--service", "-s", metavar="NAME", help="Print the URL of this service's database.")
def embedded_url(embedded_dir: Path | None, service: str | None) -> None:
    """Print the URL of the running embedded PostgreSQL (exit 4 when it is not running).

    Example: psql "$(scrydon-migrate embedded url --service platform)"
    """
    from scrydon_migrate import embedded as pg
    from scrydon_migrate.config import load_settings
    from scrydon_migrate.errors import EmbeddedError

    data_dir = pg.data_dir_for(_embedded_dir(embedded_dir))
    port = pg.running_port(data_dir)
    if port is None:
        raise EmbeddedError(
            f"the embedded PostgreSQL in {str(data_dir)!r} is not running",
            hint="start it with: scrydon-migrate embedded start",
        )
    database = load_settings(services=[service]).services[0].spec.database_name if service else "postgres"
    click.echo(f"postgresql://{pg.SUPERUSER}@127.0.0.1:{port}/{database}")


def run_command_line() -> None:
    """The command ``sys.argv`` names, parsed by click: every error becomes output and an exit code."""
    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(ExitCode.USAGE)
    except click.ClickException as exc:
        exc.show()
        sys.exit(ExitCode.USAGE if exc.exit_code == 2 else exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except MigrateError as exc:
        _report(exc)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as exc:  # noqa: BLE001 - the last line of defence: a bug
        from scrydon_migrate import db

        known = db.known_error(exc)
        if known is not None:
            _report(known)
            sys.exit(known.exit_code)
        _report_bug(exc)
        sys.exit(ExitCode.INTERNAL)
    sys.exit(ExitCode.OK)


def _report(exc: MigrateError) -> None:
    fields = {k: v for k, v in exc.fields.items() if k not in {"error"}}
    if exc.hint:
        fields["hint"] = exc.hint
    details: list[str] = getattr(exc, "details", [])
    if details:
        fields.pop("hint", None)
    log.event(logging.getLogger("scrydon_migrate"), log.FATAL, exc.message, exc.event, **fields)
    for line in details:
        log.event(
            logging.getLogger("scrydon_migrate"), log.FATAL, "  " + line, exc.event, service=fields.get("service")
        )
    if details and exc.hint:
        log.event(logging.getLogger("scrydon_migrate"), log.FATAL, exc.hint, exc.event, service=fields.get("service"))
    if _State.json_output:
        from scrydon_migrate.config import redact_document

        click.echo(json.dumps(redact_document(json.loads(json.dumps(exc.to_dict(), default=str))), ensure_ascii=False))


def _report_bug(exc: BaseException) -> None:
    from scrydon_migrate.config import redact_url

    text = redact_url("".join(traceback.format_exception(exc)))
    click.echo(text, err=True)
    click.echo(
        f"scrydon-migrate {__version__}: internal error ({type(exc).__name__}); this is a bug — "
        "please report it with the traceback above",
        err=True,
    )
