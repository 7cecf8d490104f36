"""A concurrent index build waiting for old transactions says so every few seconds, naming the pid."""

from __future__ import annotations

import threading

import psycopg
import pytest


@pytest.mark.slow
def test_a_build_waiting_for_an_old_transaction_logs_its_phase_and_the_pid_it_waits_for(
    migrations, migrate, db, db_url
):
    migrations.write("0001_orders.sql", "CREATE TABLE orders (id bigint PRIMARY KEY, email text);")
    assert migrate("up").code == 0
    migrations.write(
        "0002_index.sql", "-- migrate:no-transaction\nCREATE INDEX CONCURRENTLY orders_email_idx ON orders (email);"
    )
    old = psycopg.connect(db_url, application_name="long-report")
    old.execute("INSERT INTO orders VALUES (99, 'z')")  # an open writing transaction the build must wait out
    release = threading.Timer(7.0, old.rollback)
    release.start()
    try:
        run = migrate("up")
    finally:
        release.join()
        old_pid = old.info.backend_pid
        old.close()

    assert run.code == 0, run.stderr
    progress = run.log_lines("CONCURRENT_INDEX_PROGRESS")
    assert progress, run.stderr
    assert any(f"waiting_for_pid={old_pid}" in line and 'phase="waiting for' in line for line in progress), progress
    assert "file=0002_index.sql" in progress[0] and "table=orders" in progress[0]
