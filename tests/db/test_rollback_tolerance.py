"""A Helm rollback leaves newer migrations applied: the older release warns and starts."""

from __future__ import annotations


def test_applied_versions_newer_than_every_file_warn_and_exit_zero(migrations, migrate):
    migrations.write("0001_create.sql", "CREATE TABLE organisations (id bigint PRIMARY KEY);")
    newer = migrations.write("0002_newer.sql", "ALTER TABLE organisations ADD COLUMN region text NULL;")
    assert migrate("up").code == 0

    newer.unlink()  # the previous release's image does not have this file
    run = migrate("up")

    assert run.code == 0, run.stderr
    warning = run.log_lines("MIGRATION_UNKNOWN_NEWER")
    assert len(warning) == 1 and "WARNING" in warning[0] and "version=2" in warning[0]
    status = {m["version"]: m for m in migrate("status", "--json").json()[0]["migrations"]}
    assert status["2"]["status"] == "unknown-newer"


def test_pending_migration_older_than_applied_ones_is_refused_unless_allowed(migrations, migrate, db):
    migrations.write("0002_create.sql", "CREATE TABLE organisations (id bigint PRIMARY KEY);")
    assert migrate("up").code == 0
    migrations.write("0001_late.sql", "CREATE TABLE late (id int);")

    refused = migrate("up")
    assert refused.code == 6
    assert "out of order" in refused.stderr
    assert db.execute("SELECT to_regclass('late')").fetchone() == (None,)

    assert migrate("up", "--allow-out-of-order").code == 0
    assert db.execute("SELECT to_regclass('late')").fetchone() == ("late",)
