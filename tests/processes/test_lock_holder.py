"""A waiting pod says who holds the migration lock, and gives up after --lock-wait with exit 4."""

from __future__ import annotations

import psycopg

from scrydon_migrate import tracking


def test_waiting_pod_reports_the_holder_and_gives_up_after_lock_wait(migrations, migrate, db_url):
    migrations.write("0001_create.sql", "CREATE TABLE organisations (id bigint PRIMARY KEY);")
    key = tracking.lock_key("public.platform_migrations", psycopg.conninfo.conninfo_to_dict(db_url)["dbname"])
    with psycopg.connect(db_url, autocommit=True, application_name="stuck-upgrade") as holder:
        holder.execute("SELECT pg_advisory_lock(%s)", (key,))
        holder_pid = holder.info.backend_pid

        run = migrate("up", "--lock-wait", "1.5")

    assert run.code == 4
    waiting = run.log_lines("LOCK_WAITING")
    assert waiting and f"holder_pid={holder_pid}" in waiting[0]
    assert "holder_application_name=stuck-upgrade" in waiting[0]
    fatal = run.log_lines("LOCK_WAIT_TIMEOUT")
    assert fatal and "FATAL: gave up waiting for the migration lock of service 'platform'" in fatal[0]
    assert f"pid {holder_pid}" in fatal[0]


def test_nothing_pending_answers_without_taking_the_lock(migrations, migrate, db_url):
    migrations.write("0001_create.sql", "CREATE TABLE organisations (id bigint PRIMARY KEY);")
    assert migrate("up").code == 0
    key = tracking.lock_key("public.platform_migrations", psycopg.conninfo.conninfo_to_dict(db_url)["dbname"])
    with psycopg.connect(db_url, autocommit=True) as holder:
        holder.execute("SELECT pg_advisory_lock(%s)", (key,))

        run = migrate("up", "--lock-wait", "0")

    assert run.code == 0, run.stderr
    assert not run.log_lines("LOCK_WAITING")
