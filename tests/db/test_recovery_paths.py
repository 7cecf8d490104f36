"""The runbook's recovery paths, end to end: fix forward, skip, restore from a snapshot, all audited."""

from __future__ import annotations

import difflib
import subprocess

import psycopg
import pytest

from scrydon_migrate import embedded

RELEASE_1 = {
    "0001_organisations.sql": "CREATE TABLE organisations (id bigint PRIMARY KEY, name text NOT NULL);",
    "0002_workspaces.sql": "CREATE TABLE workspaces (id bigint PRIMARY KEY, org_id bigint REFERENCES organisations);",
}
RELEASE_2 = {
    "0003_region.sql": "ALTER TABLE organisations ADD COLUMN region text NULL;",
    "0004_backfill.sql": "UPDATE organisations SET region = missing_column;",
}


def _write(migrations, files):
    for name, sql in files.items():
        migrations.write(name, sql)


def _failed_upgrade(migrations, migrate, db):
    _write(migrations, RELEASE_1)
    assert migrate("up").code == 0
    db.execute("INSERT INTO organisations SELECT g, 'org ' || g FROM generate_series(1, 50) g")
    _write(migrations, RELEASE_2)
    failed = migrate("up")
    assert failed.code == 5
    return failed


def _audit(db):
    return db.execute("SELECT event, version, reason FROM platform_migrations_audit ORDER BY id").fetchall()


def test_fix_forward_keeps_the_old_error_in_the_audit_log(migrations, migrate, db):
    _failed_upgrade(migrations, migrate, db)
    migrations.write("0004_backfill.sql", "UPDATE organisations SET region = 'eu' WHERE region IS NULL;")

    assert migrate("up").code == 0

    events = [(e, v) for e, v, _ in _audit(db)]
    assert events[-3:] == [("MIGRATION_APPLIED", 3), ("MIGRATION_FAILED", 4), ("MIGRATION_APPLIED", 4)]
    error = db.execute(
        "SELECT details->>'sqlstate', details->>'line' FROM platform_migrations_audit WHERE event = 'MIGRATION_FAILED'"
    ).fetchone()
    assert error == ("42703", "1")


def test_skip_marks_the_failed_migration_applied_with_a_reason_and_up_moves_on(migrations, migrate, db):
    _failed_upgrade(migrations, migrate, db)
    migrations.write("0005_next.sql", "CREATE TABLE later (id int);")

    skipped = migrate(
        "mark-applied",
        "--version",
        "4",
        "--reason",
        "region is filled by the app",
        env={"MIGRATE_OPERATOR": "oncall@example"},
    )

    assert skipped.code == 0, skipped.stderr
    assert migrate("up").code == 0
    assert db.execute("SELECT to_regclass('later')").fetchone() == ("later",)
    row = db.execute("SELECT status, reason, applied_by FROM platform_migrations WHERE version = 4").fetchone()
    assert row == ("skipped", "region is filled by the app", "oncall@example")
    assert ("MIGRATION_SKIPPED", 4, "region is filled by the app") in _audit(db)
    status = {m["version"]: m for m in migrate("status", "--json").json()[0]["migrations"]}
    assert status["0004"]["status"] == "skipped" and status["0004"]["detail"] == "skipped: region is filled by the app"
    assert migrate("verify").code == 0, "a skipped migration takes no part in the desync check"


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (("--version", "4"), 2, "Missing option '--reason'"),
        (("--version", "4", "--reason", "  "), 3, "needs a --reason"),
        (("--version", "99", "--reason", "x"), 6, "has no migration file with version 99"),
        (("--version", "1", "--reason", "x"), 6, "is already applied"),
    ],
)
def test_skip_refuses_bad_requests_and_changes_nothing(migrations, migrate, db, args, code, message):
    _failed_upgrade(migrations, migrate, db)
    before = db.execute("SELECT version, status FROM platform_migrations ORDER BY version").fetchall()

    run = migrate("mark-applied", *args)

    assert run.code == code
    assert message in run.stderr
    assert db.execute("SELECT version, status FROM platform_migrations ORDER BY version").fetchall() == before


def test_skip_of_a_version_without_a_file_needs_force(migrations, migrate, db):
    _write(migrations, RELEASE_1)
    assert migrate("up").code == 0

    assert migrate("mark-applied", "--version", "7", "--reason", "hotfix applied by hand", "--force").code == 0
    assert db.execute("SELECT status FROM platform_migrations WHERE version = 7").fetchone() == ("skipped",)


def _diff(before, after):
    return "\n".join(difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm=""))


def _schema_dump(db_url):
    pg_dump = embedded.bin_dir() / "pg_dump"
    dump = subprocess.run(
        [str(pg_dump), "--schema-only", "--no-owner", "--exclude-table=platform_migrations*", "-d", db_url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return "\n".join(line for line in dump.splitlines() if not line.startswith(("--", "\\restrict", "\\unrestrict")))


def test_restore_brings_back_the_exact_pre_upgrade_schema_and_data_then_up_applies_again(
    migrations, migrate, db, db_url, tmp_path
):
    _write(migrations, RELEASE_1)
    assert migrate("up").code == 0
    db.execute("INSERT INTO organisations SELECT g, 'org ' || g FROM generate_series(1, 50) g")
    before_schema = _schema_dump(db_url)
    _write(migrations, RELEASE_2)

    failed = migrate("up", "--snapshot-to", str(tmp_path / "pre-upgrade"))
    assert failed.code == 5
    assert failed.log_lines("SNAPSHOT_TAKEN")
    assert db.execute("SELECT to_regclass('organisations')").fetchone() == ("organisations",)
    assert _schema_dump(db_url) != before_schema, "0003 was applied before 0004 failed"

    refused = migrate("snapshot restore", "--from", str(tmp_path / "pre-upgrade"))
    assert refused.code == 6 and "--yes" in refused.stderr
    db.close()
    restored = migrate("snapshot restore", "--from", str(tmp_path / "pre-upgrade"), "--yes")

    assert restored.code == 0, restored.stderr
    with psycopg.connect(db_url, autocommit=True) as conn:
        after_schema = _schema_dump(db_url)
        assert after_schema == before_schema, _diff(before_schema, after_schema)
        assert conn.execute("SELECT count(*) FROM organisations").fetchone() == (50,)
        assert conn.execute("SELECT max(version) FROM platform_migrations").fetchone() == (2,)
        assert conn.execute("SELECT event FROM platform_migrations_audit ORDER BY id DESC LIMIT 1").fetchone() == (
            "SNAPSHOT_RESTORED",
        )
    migrations.write("0004_backfill.sql", "UPDATE organisations SET region = 'eu' WHERE region IS NULL;")
    assert migrate("up").code == 0


def test_restore_refuses_another_services_or_a_truncated_snapshot(migrations, migrate, db, tmp_path):
    _write(migrations, RELEASE_1)
    assert migrate("up").code == 0
    assert migrate("snapshot create", "--to", str(tmp_path / "snap")).code == 0
    manifest = tmp_path / "snap" / "platform.manifest.json"
    manifest.write_text(manifest.read_text().replace('"service": "platform"', '"service": "cortex"'))

    wrong_service = migrate("snapshot restore", "--from", str(tmp_path / "snap"), "--yes")
    assert wrong_service.code == 6
    assert "is of service 'cortex', not 'platform'" in wrong_service.stderr

    assert migrate("snapshot create", "--to", str(tmp_path / "snap2")).code == 0
    dump = tmp_path / "snap2" / "platform.dump"
    dump.write_bytes(dump.read_bytes()[: dump.stat().st_size // 2])
    truncated = migrate("snapshot restore", "--from", str(tmp_path / "snap2"), "--yes")
    assert truncated.code == 6 and "truncated" in truncated.stderr
    assert db.execute("SELECT to_regclass('organisations')").fetchone() == ("organisations",)


def test_the_audit_log_is_append_only(migrations, migrate, db):
    _write(migrations, RELEASE_1)
    assert migrate("up").code == 0

    for statement in (
        "UPDATE platform_migrations_audit SET reason = 'tampered'",
        "DELETE FROM platform_migrations_audit",
        "TRUNCATE platform_migrations_audit",
    ):
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"):
            db.execute(statement)
    assert len(_audit(db)) == 2


def test_audit_command_filters_by_event_and_prints_json(migrations, migrate, db):
    _failed_upgrade(migrations, migrate, db)

    run = migrate("audit", "--event", "MIGRATION_F*", "--json")

    assert run.code == 0
    events = run.json()[0]["events"]
    assert [e["event"] for e in events] == ["MIGRATION_FAILED"]
    assert events[0]["details"]["file"] == "0004_backfill.sql"
