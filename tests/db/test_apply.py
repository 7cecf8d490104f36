"""Applying migrations: in order, each once, recorded in the tracking table the runbook queries."""

from __future__ import annotations


def test_up_applies_pending_migrations_in_version_order_and_records_them(migrations, migrate, db):
    migrations.write("0002_add_region.sql", "ALTER TABLE organisations ADD COLUMN region text NULL;")
    migrations.write("0001_create_organisations.sql", "CREATE TABLE organisations (id bigint PRIMARY KEY, name text);")
    migrations.write("10_add_index.sql", "CREATE INDEX organisations_name_idx ON organisations (name);")

    run = migrate("up")

    assert run.code == 0, run.stderr
    rows = db.execute(
        "SELECT version, applied_at FROM platform_migrations ORDER BY applied_at DESC LIMIT 5;"
    ).fetchall()
    assert [r[0] for r in rows] == [10, 2, 1]
    applied = run.log_lines("MIGRATION_APPLIED")
    assert [line.split("version=")[1].split()[0] for line in applied] == ["0001", "0002", "10"]
    assert all(line.startswith("[migrate-bootstrap] INFO: applied migration") for line in applied)


def test_second_up_is_a_no_op_that_exits_zero_and_says_so(migrations, migrate):
    migrations.write("0001_create.sql", "CREATE TABLE t (id int);")
    assert migrate("up").code == 0

    again = migrate("up")

    assert again.code == 0
    assert not again.log_lines("MIGRATION_APPLIED")
    assert again.log_lines("MIGRATIONS_UP_TO_DATE")
