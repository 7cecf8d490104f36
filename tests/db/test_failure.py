"""A failing migration: the pod crash-loops with a log line that says what failed, where and why."""

from __future__ import annotations

BROKEN = """-- release 2: add a region
ALTER TABLE organisations ADD COLUMN region text NULL;

UPDATE organisations
   SET region = missing_column;
"""


def test_failing_statement_exits_5_and_logs_service_version_file_line_and_sqlstate(migrations, migrate, db):
    migrations.write("0001_create.sql", "CREATE TABLE organisations (id bigint PRIMARY KEY);")
    migrations.write("0002_region.sql", BROKEN)

    run = migrate("up")

    assert run.code == 5
    fatal = run.log_lines("MIGRATION_FAILED")
    assert len(fatal) == 1
    line = fatal[0]
    assert line.startswith("[migrate-bootstrap] FATAL: migration 0002 (0002_region.sql) of service 'platform'")
    for field in ("service=platform", "version=0002", "line=5", "sqlstate=42703", "statement="):
        assert field in line
    assert 'column \\"missing_column\\" does not exist' in line or "missing_column" in line
    assert "fix forward" in line and "restore" in line


def test_failed_migration_is_rolled_back_whole_and_recorded_as_failed(migrations, migrate, db):
    migrations.write("0001_create.sql", "CREATE TABLE organisations (id bigint PRIMARY KEY);")
    migrations.write("0002_region.sql", BROKEN)

    migrate("up")

    columns = db.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_name = 'organisations'"
    ).fetchall()
    assert columns == [("id",)], "the ADD COLUMN before the failing UPDATE must be rolled back"
    row = db.execute(
        "SELECT status, sqlstate, failed_line, failed_statement, error FROM platform_migrations WHERE version = 2"
    ).fetchone()
    assert row[0] == "failed"
    assert row[1] == "42703"
    assert row[2] == 5
    assert row[3].startswith("UPDATE organisations")
    assert "missing_column" in row[4]


def test_fix_forward_edit_the_failed_file_and_up_succeeds(migrations, migrate, db):
    migrations.write("0001_create.sql", "CREATE TABLE organisations (id bigint PRIMARY KEY, name text);")
    migrations.write("0002_region.sql", BROKEN)
    assert migrate("up").code == 5

    migrations.write("0002_region.sql", BROKEN.replace("missing_column", "name"))
    run = migrate("up")

    assert run.code == 0, run.stderr
    assert db.execute("SELECT status, error FROM platform_migrations WHERE version = 2").fetchone() == (
        "applied",
        None,
    )


def test_failure_stops_at_the_failed_migration_and_applies_nothing_after_it(migrations, migrate, db):
    migrations.write("0001_create.sql", "CREATE TABLE organisations (id bigint PRIMARY KEY);")
    migrations.write("0002_region.sql", BROKEN)
    migrations.write("0003_more.sql", "CREATE TABLE later (id int);")

    migrate("up")

    assert db.execute("SELECT to_regclass('later')").fetchone() == (None,)
    assert db.execute("SELECT count(*) FROM platform_migrations WHERE version = 3").fetchone() == (0,)


def test_status_shows_the_failed_migration_with_its_line_and_error(migrations, migrate):
    migrations.write("0001_create.sql", "CREATE TABLE organisations (id bigint PRIMARY KEY);")
    migrations.write("0002_region.sql", BROKEN)
    migrate("up")

    status = migrate("status", "--json")

    assert status.code == 0
    entries = {m["version"]: m for m in status.json()[0]["migrations"]}
    assert entries["0002"]["status"] == "failed"
    assert "line 5" in entries["0002"]["detail"] and "42703" in entries["0002"]["detail"]
    assert migrate("status", "--exit-code").code == 1
