"""The runbook's manual skip: a row inserted by hand marks a migration applied; it never runs."""

from __future__ import annotations


def test_row_inserted_by_hand_with_only_a_version_is_never_applied(migrations, migrate, db):
    migrations.write("0001_create.sql", "CREATE TABLE organisations (id bigint PRIMARY KEY);")
    migrations.write("0002_broken.sql", "ALTER TABLE nowhere ADD COLUMN x int;")
    assert migrate("up").code == 5
    db.execute("DELETE FROM platform_migrations WHERE version = 2")
    db.execute("INSERT INTO platform_migrations (version) VALUES (2)")
    migrations.write("0003_next.sql", "CREATE TABLE later (id int);")

    run = migrate("up")

    assert run.code == 0, run.stderr
    assert [line.split("version=")[1].split()[0] for line in run.log_lines("MIGRATION_APPLIED")] == ["0003"]
    status = {m["version"]: m for m in migrate("status", "--json").json()[0]["migrations"]}
    assert status["0002"]["status"] == "skipped"
    assert status["0002"]["detail"] == "marked applied by hand"


def test_failed_row_updated_to_skipped_by_hand_is_not_retried(migrations, migrate, db):
    migrations.write("0001_broken.sql", "ALTER TABLE nowhere ADD COLUMN x int;")
    assert migrate("up").code == 5

    db.execute("UPDATE platform_migrations SET status = 'skipped' WHERE version = 1")

    assert migrate("up").code == 0


def test_runbook_verification_query_works_as_written(migrations, migrate, db):
    migrations.write("0001_create.sql", "CREATE TABLE organisations (id bigint PRIMARY KEY);")
    migrate("up")

    rows = db.execute(
        "SELECT version, applied_at FROM platform_migrations ORDER BY applied_at DESC LIMIT 5;"
    ).fetchall()

    assert [r[0] for r in rows] == [1]
