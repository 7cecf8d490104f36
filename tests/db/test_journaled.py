"""Migrations that cannot run in a transaction (CREATE INDEX CONCURRENTLY) run statement by statement."""

from __future__ import annotations


def test_concurrent_index_migration_is_applied_outside_a_transaction(migrations, migrate, db):
    migrations.write("0001_create.sql", "CREATE TABLE organisations (id bigint PRIMARY KEY, name text);")
    migrations.write(
        "0002_index.sql",
        "-- migrate:no-transaction\nCREATE INDEX CONCURRENTLY IF NOT EXISTS organisations_name_idx"
        " ON organisations (name);\n",
    )

    run = migrate("up")

    assert run.code == 0, run.stderr
    assert db.execute(
        "SELECT indisvalid FROM pg_index WHERE indexrelid = 'organisations_name_idx'::regclass"
    ).fetchone() == (True,)
    assert db.execute(
        "SELECT status, statements_done, statements_total FROM platform_migrations WHERE version = 2"
    ).fetchone() == ("applied", 1, 1)


def test_failed_journaled_migration_resumes_at_the_failed_statement(migrations, migrate, db):
    migrations.write("0001_create.sql", "CREATE TABLE organisations (id bigint PRIMARY KEY, name text);")
    migrations.write(
        "0002_index.sql",
        "CREATE INDEX CONCURRENTLY organisations_name_idx ON organisations (name);\n"
        "CREATE INDEX CONCURRENTLY organisations_region_idx ON organisations (region);\n",
    )
    failed = migrate("up")
    assert failed.code == 5
    assert "statements 1-1 of it are applied" in failed.stderr
    assert db.execute("SELECT status, statements_done FROM platform_migrations WHERE version = 2").fetchone() == (
        "failed",
        1,
    )
    status = {m["version"]: m for m in migrate("status", "--json").json()[0]["migrations"]}
    assert "1/2 statements done" in status["0002"]["detail"]

    db.execute("ALTER TABLE organisations ADD COLUMN region text")
    resumed = migrate("up")

    assert resumed.code == 0, resumed.stderr
    assert resumed.log_lines("MIGRATION_RESUMED") and "statement=2" in resumed.log_lines("MIGRATION_RESUMED")[0]
    assert db.execute("SELECT status, statements_done FROM platform_migrations WHERE version = 2").fetchone() == (
        "applied",
        2,
    )


def test_editing_a_statement_that_already_ran_is_refused_on_resume(migrations, migrate, db):
    migrations.write("0001_create.sql", "CREATE TABLE organisations (id bigint PRIMARY KEY, name text);")
    migrations.write(
        "0002_index.sql",
        "CREATE INDEX CONCURRENTLY organisations_name_idx ON organisations (name);\n"
        "CREATE INDEX CONCURRENTLY organisations_region_idx ON organisations (region);\n",
    )
    assert migrate("up").code == 5

    migrations.write(
        "0002_index.sql",
        "CREATE INDEX CONCURRENTLY organisations_name_idx ON organisations (lower(name));\n"
        "CREATE INDEX CONCURRENTLY organisations_region_idx ON organisations (name);\n",
    )
    run = migrate("up")

    assert run.code == 6
    assert "already ran, was edited" in run.stderr
