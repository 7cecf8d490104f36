"""`mark-applied` of a version beyond pending ones is refused: up would then refuse those as out of order."""

from __future__ import annotations


def test_marking_a_version_beyond_pending_ones_is_refused_with_the_reason(migrations, migrate, db):
    migrations.write("0001_create.sql", "CREATE TABLE organisations (id bigint PRIMARY KEY);")
    assert migrate("up").code == 0
    migrations.write("0002_region.sql", "ALTER TABLE organisations ADD COLUMN region text NULL;")
    migrations.write("0003_index.sql", "CREATE TABLE workspaces (id bigint PRIMARY KEY);")

    run = migrate("mark-applied", "--version", "3", "--reason", "exists already")

    assert run.code == 6, run.stderr
    fatal = run.log_lines("MIGRATION_REFUSED")
    assert fatal and "1 earlier migration is not applied yet (0002_region.sql)" in fatal[0]
    assert "out of order" in fatal[0]
    assert db.execute("SELECT count(*) FROM platform_migrations").fetchone() == (1,)
    assert migrate("up").code == 0, "the refused skip left nothing that blocks up"


def test_marking_the_next_pending_version_is_accepted(migrations, migrate, db):
    migrations.write("0001_create.sql", "CREATE TABLE organisations (id bigint PRIMARY KEY);")
    migrations.write("0002_region.sql", "ALTER TABLE organisations ADD COLUMN region text NULL;")
    assert migrate("mark-applied", "--version", "1", "--reason", "exists already").code == 0
    assert migrate("mark-applied", "--version", "2", "--reason", "exists already").code == 0
    assert db.execute("SELECT count(*) FROM platform_migrations WHERE status = 'skipped'").fetchone() == (2,)
