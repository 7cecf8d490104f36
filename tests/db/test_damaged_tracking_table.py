"""A damaged tracking table is refused with exit 6 and a clear message; an older release's table is upgraded."""

from __future__ import annotations

import pytest


def _applied(migrations, migrate):
    migrations.write("0001_create.sql", "CREATE TABLE organisations (id bigint PRIMARY KEY);")
    assert migrate("up").code == 0


@pytest.mark.parametrize(
    ("damage", "expected"),
    [
        ("ALTER TABLE platform_migrations DROP COLUMN status", "its column 'status' is missing"),
        ("ALTER TABLE platform_migrations DROP COLUMN checksum", "its column 'checksum' is missing"),
        (
            "ALTER TABLE platform_migrations DROP CONSTRAINT platform_migrations_status_check;"
            " UPDATE platform_migrations SET status = 'done'",
            "the row of version 1 has status 'done'",
        ),
        ("ALTER TABLE platform_migrations ALTER COLUMN version TYPE text", "its column 'version' is of type text"),
        (
            "ALTER TABLE platform_migrations ALTER COLUMN applied_at TYPE text",
            "its column 'applied_at' is of type text",
        ),
        (
            "ALTER TABLE platform_migrations DROP CONSTRAINT platform_migrations_pkey;"
            " INSERT INTO platform_migrations SELECT * FROM platform_migrations",
            "version 1 has two rows",
        ),
    ],
)
def test_a_damaged_tracking_table_is_refused_with_exit_6_and_nothing_runs(migrations, migrate, db, damage, expected):
    _applied(migrations, migrate)
    db.execute(damage)
    migrations.write("0002_more.sql", "CREATE TABLE workspaces (id bigint PRIMARY KEY);")

    for command in ("up", "status"):
        run = migrate(command)
        assert run.code == 6, run.stderr
        assert "Traceback" not in run.stderr
        fatal = run.log_lines("MIGRATION_TRACKING_DAMAGED")
        assert fatal and expected in fatal[0] and "hint=" in fatal[0], run.stderr
    assert db.execute("SELECT to_regclass('workspaces')").fetchone() == (None,)


def test_a_dropped_primary_key_is_refused_before_anything_is_applied(migrations, migrate, db):
    _applied(migrations, migrate)
    db.execute("ALTER TABLE platform_migrations DROP CONSTRAINT platform_migrations_pkey")
    migrations.write("0002_more.sql", "CREATE TABLE workspaces (id bigint PRIMARY KEY);")

    run = migrate("up")

    assert run.code == 6, run.stderr
    fatal = run.log_lines("MIGRATION_TRACKING_DAMAGED")
    assert fatal and "no primary key on version" in fatal[0] and "ADD PRIMARY KEY (version)" in fatal[0]
    assert db.execute("SELECT to_regclass('workspaces')").fetchone() == (None,)


def test_a_tracking_table_made_by_an_older_release_is_read_then_upgraded(migrations, migrate, db):
    _applied(migrations, migrate)
    db.execute("ALTER TABLE platform_migrations DROP COLUMN lock_held_ms, DROP COLUMN effects")

    assert migrate("up").code == 0, "the no-op start-up reads the older table"
    assert migrate("status").code == 0
    migrations.write("0002_more.sql", "CREATE TABLE workspaces (id bigint PRIMARY KEY);")
    run = migrate("up")

    assert run.code == 0, run.stderr
    columns = {
        r[0] for r in db.execute("SELECT attname FROM pg_attribute WHERE attrelid = 'platform_migrations'::regclass")
    }
    assert {"lock_held_ms", "effects"} <= columns
    assert db.execute("SELECT count(*) FROM platform_migrations WHERE status = 'applied'").fetchone() == (2,)


def test_a_trigger_that_swallows_tracking_writes_rolls_the_migration_back_with_exit_6(migrations, migrate, db):
    _applied(migrations, migrate)
    db.execute(
        "CREATE FUNCTION swallow() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NULL; END $$;"
        " CREATE TRIGGER swallow BEFORE INSERT OR UPDATE ON platform_migrations"
        " FOR EACH ROW EXECUTE FUNCTION swallow()"
    )
    migrations.write("0002_more.sql", "CREATE TABLE workspaces (id bigint PRIMARY KEY);")

    run = migrate("up")

    assert run.code == 6, run.stderr
    assert "Traceback" not in run.stderr
    fatal = run.log_lines("MIGRATION_TRACKING_DAMAGED")
    assert fatal and "kept the row of version 2 from being written" in fatal[0], run.stderr
    assert db.execute("SELECT to_regclass('workspaces')").fetchone() == (None,)
    assert db.execute("SELECT count(*) FROM platform_migrations_audit WHERE version = 2").fetchone() == (0,)
