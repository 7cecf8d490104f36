"""The PostgreSQL server restarts in the middle of `up`: the run fails clearly, the next one finishes the work."""

from __future__ import annotations

import subprocess
import time

import psycopg
import pytest

from tests.fixtures.cli import clean_env, command

MIGRATIONS = {
    "0001_base.sql": "CREATE TABLE accounts (id bigint PRIMARY KEY, note text);",
    "0002_slow.sql": "ALTER TABLE accounts ADD COLUMN region text NULL;\n"
    "SELECT pg_sleep(CASE WHEN to_regclass('restart_marker') IS NULL THEN 30 ELSE 0 END);\n"
    "CREATE TABLE after_sleep (id int);",
    "0003_index.sql": "CREATE INDEX CONCURRENTLY accounts_note_idx ON accounts (note);",
}


def test_a_server_restart_mid_migration_fails_clearly_and_the_next_up_finishes(pg_cluster, migrations, db_url, migrate):
    if pg_cluster.data_dir is None:
        pytest.skip("the suite did not start this server, so it can't restart it")
    for name, sql in MIGRATIONS.items():
        migrations.write(name, sql)
    args = command("up", "--service", "platform", "--database-url", db_url, "--migrations-dir", str(migrations.path))
    pod = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=clean_env())
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with psycopg.connect(db_url, autocommit=True) as conn:
            busy = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep(CASE%%'"
            ).fetchone()[0]
        if busy:
            break
        time.sleep(0.05)

    pg_cluster.restart()
    _, stderr = pod.communicate(timeout=60)

    assert pod.returncode == 4, stderr
    assert "lost the connection to the database while applying migration 0002 (0002_slow.sql)" in stderr
    assert "Traceback" not in stderr
    with psycopg.connect(db_url, autocommit=True) as conn:
        assert conn.execute("SELECT to_regclass('after_sleep')").fetchone() == (None,), "0002 rolled back whole"
        conn.execute("CREATE TABLE restart_marker ()")
    recovered = migrate("up")
    assert recovered.code == 0, recovered.stderr
    assert migrate("verify").code == 0
    with psycopg.connect(db_url, autocommit=True) as conn:
        assert conn.execute("SELECT count(*) FROM platform_migrations WHERE status = 'applied'").fetchone() == (3,)
