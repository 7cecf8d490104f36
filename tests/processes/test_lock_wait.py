"""Waiting for the migration lock: only this database's holder counts, and a waiting pod holds nothing.

Advisory locks are per database, so the same key held in another database of the cluster is
not this service's lock. A pod waiting for the lock is idle between tries (it LISTENs for the
holder's release), so a concurrent index build never waits for it.
"""

from __future__ import annotations

import subprocess
import time

import psycopg
from psycopg import sql

from scrydon_migrate import tracking
from tests.fixtures.cli import clean_env, command


def _key(db_url: str) -> int:
    """The migration lock's key of the test database's platform service."""
    return tracking.lock_key("public.platform_migrations", psycopg.conninfo.conninfo_to_dict(db_url)["dbname"])


def _wait_for(predicate, timeout_s=60.0):
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.05)


def test_the_same_key_held_in_another_database_is_neither_waited_for_nor_named(pg_cluster, migrations, migrate, db_url):
    migrations.write("0001_create.sql", "CREATE TABLE organisations (id bigint PRIMARY KEY);")
    other = "lock_elsewhere"
    with psycopg.connect(pg_cluster.admin_url, autocommit=True) as admin:
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(other)))
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(other)))
    try:
        with psycopg.connect(pg_cluster.url(other), autocommit=True, application_name="other-database") as holder:
            holder.execute("SELECT pg_advisory_lock(%s)", (_key(db_url),))

            up = migrate("up", "--lock-wait", "1")
            doctor = migrate("doctor", "--json")

        assert up.code == 0, up.stderr
        assert not up.log_lines("LOCK_WAITING")
        assert "other-database" not in doctor.stdout and "MIGRATION_LOCK_HELD" not in doctor.stdout
    finally:
        with psycopg.connect(pg_cluster.admin_url, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(other)))


def test_a_waiting_pod_is_idle_and_a_concurrent_index_build_does_not_wait_for_it(migrations, db_url, db):
    migrations.write("0001_create.sql", "CREATE TABLE organisations (id bigint PRIMARY KEY, name text);")
    db.execute("CREATE TABLE busy (id int)")
    with psycopg.connect(db_url, autocommit=True, application_name="holder") as holder:
        holder.execute("SELECT pg_advisory_lock(%s)", (_key(db_url),))
        pod = subprocess.Popen(
            command("up", "--service", "platform", "--database-url", db_url, "--migrations-dir", str(migrations.path)),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=clean_env({"MIGRATE_APPLICATION_NAME": "waiting-pod"}),
        )
        try:
            _wait_for(
                lambda: (
                    db.execute(
                        "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'waiting-pod'"
                        " AND state = 'idle' AND backend_xmin IS NULL"
                        " AND (query LIKE '%%pg_try_advisory_lock%%' OR query LIKE '%%pg_locks%%')"
                    ).fetchone()[0]
                    == 1
                )
            )
            db.execute("CREATE INDEX CONCURRENTLY busy_id_idx ON busy (id)")
            assert pod.poll() is None, "the pod is still waiting for the lock"
            tracking.release_lock(holder, _key(db_url))
            code = pod.wait(timeout=60)
        finally:
            if pod.poll() is None:
                pod.kill()
        err = pod.communicate()[1]
    assert code == 0, err
    assert "event=LOCK_WAITING" in err and "event=MIGRATION_APPLIED" in err
    assert db.execute("SELECT indisvalid FROM pg_index WHERE indexrelid = 'busy_id_idx'::regclass").fetchone() == (
        True,
    )
