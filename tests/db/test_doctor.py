"""`doctor` recognises each state an operator meets, created here for real, and prints the runbook's fix."""

from __future__ import annotations

import contextlib
import socket

import psycopg

from scrydon_migrate import tracking
from tests.fixtures.cli import run_cli


def _findings(run):
    return {f["code"]: f for f in run.json()}


def test_a_fresh_never_migrated_database_is_migrations_never_ran(migrations, migrate):
    migrations.write("0001_create.sql", "CREATE TABLE organisations (id bigint PRIMARY KEY);")

    run = migrate("doctor", "--json")

    assert run.code == 1
    finding = _findings(run)["MIGRATIONS_NEVER_RAN"]
    assert finding["severity"] == "error"
    assert "has no tables and no platform_migrations table" in finding["summary"]
    assert "helm -n <ns> upgrade <release> <chart> --reuse-values" in finding["fix"]
    assert "kubectl -n <ns> wait --for=condition=complete job -l app.kubernetes.io/name=scrydon" in finding["fix"]
    human = migrate("doctor")
    assert "[error] platform: MIGRATIONS_NEVER_RAN" in human.stdout


def test_a_healthy_service_has_no_error_findings(migrations, migrate):
    migrations.write("0001_create.sql", "CREATE TABLE organisations (id bigint PRIMARY KEY);")
    assert migrate("up").code == 0

    run = migrate("doctor")

    assert run.code == 0
    assert "no findings" in run.stdout


def test_a_failed_migration_is_reported_with_the_three_paths(migrations, migrate):
    migrations.write("0001_create.sql", "CREATE TABLE organisations (id bigint PRIMARY KEY);")
    migrations.write("0002_broken.sql", "ALTER TABLE nowhere ADD COLUMN x int;")
    migrate("up")

    finding = _findings(migrate("doctor", "--json"))["MIGRATION_FAILED"]

    assert "0002_broken.sql" in finding["summary"] and "42P01" in finding["summary"]
    assert "fix forward" in finding["fix"] and "mark-applied --service platform --version 2" in finding["fix"]
    assert "snapshot restore" in finding["fix"]


def test_desync_invalid_index_newer_versions_and_repair_flag_are_each_found(migrations, migrate, db):
    migrations.write("0001_create.sql", "CREATE TABLE organisations (id bigint PRIMARY KEY, slug text);")
    migrations.write("0002_audit.sql", "CREATE TABLE audit_trail (id int);")
    newer = migrations.write("0003_newer.sql", "CREATE TABLE newer (id int);")
    assert migrate("up").code == 0
    newer.unlink()
    db.execute("DROP TABLE newer")
    db.execute("INSERT INTO organisations VALUES (1, 'a'), (2, 'a')")
    with contextlib.suppress(psycopg.errors.UniqueViolation):
        db.execute("CREATE UNIQUE INDEX CONCURRENTLY organisations_slug_key ON organisations (slug)")

    run = migrate("doctor", "--json", env={"MIGRATE_REPAIR_TRACKING": "1"})

    found = _findings(run)
    assert run.code == 1
    assert found["TRACKING_DESYNC"]["severity"] == "error"
    assert "organisations_slug_key" in found["INVALID_INDEX"]["summary"]
    assert found["REPAIR_TRACKING_LEFT_ON"]["severity"] == "warning"
    assert "3" in found["UNKNOWN_NEWER_VERSIONS"]["summary"]


def test_a_held_migration_lock_names_its_holder(migrations, migrate, db_url):
    migrations.write("0001_create.sql", "CREATE TABLE organisations (id bigint PRIMARY KEY);")
    assert migrate("up").code == 0
    with psycopg.connect(db_url, autocommit=True, application_name="api-platform-stuck") as holder:
        key = tracking.lock_key("public.platform_migrations", psycopg.conninfo.conninfo_to_dict(db_url)["dbname"])
        holder.execute("SELECT pg_advisory_lock(%s)", (key,))
        holder_pid = holder.info.backend_pid

        finding = _findings(migrate("doctor", "--json"))["MIGRATION_LOCK_HELD"]

    assert f"pid {holder_pid} (api-platform-stuck)" in finding["summary"]
    assert "pg_terminate_backend" in finding["fix"]


def test_an_unreachable_database_is_a_finding_not_a_crash(migrations):
    migrations.write("0001_create.sql", "CREATE TABLE organisations (id bigint PRIMARY KEY);")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]

    run = run_cli(
        "doctor",
        "--service",
        "platform",
        "--migrations-dir",
        str(migrations.path),
        "--json",
        "--database-url",
        f"postgresql://u:hunter2@127.0.0.1:{port}/auth",
    )

    assert run.code == 1
    assert _findings(run)["DATABASE_UNREACHABLE"]["severity"] == "error"
    assert "hunter2" not in run.stdout + run.stderr
