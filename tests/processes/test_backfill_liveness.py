"""A backfill's workers beat: a dead one shows as stalled in status and doctor, a new one resumes;
a failure is recorded; several workers share the key range; events are logged once, after commit."""

from __future__ import annotations

import signal

from tests.processes.conftest import all_done_once, backfill_state, fast, slow, start_worker, wait_until


def _status(migrate):
    return migrate("backfill status", "--json").json()[0]["backfills"][0]


def test_a_sigkilled_worker_shows_as_stalled_in_status_and_doctor_and_a_new_worker_resumes(
    items, migrations, migrate, db_url
):
    slow(items)
    items.execute("UPDATE platform_migrations_backfills SET stall_after_s = 1")
    worker = start_worker(db_url, migrations)
    wait_until(lambda: backfill_state(items)[1] >= 1000)
    worker.send_signal(signal.SIGKILL)
    worker.communicate(timeout=10)

    wait_until(lambda: _status(migrate)["state"] == "stalled")
    status = _status(migrate)
    assert status["stored_state"] == "running" and status["eta_s"] is None
    assert status["stalled_since"] and status["last_batch_at"] and status["workers"]
    text = migrate("backfill status")
    assert "stalled" in text.stdout and "no worker heartbeat since" in text.stdout
    doctor = migrate("doctor", "--json")
    stalled = [f for f in doctor.json() if f["code"] == "BACKFILL_STALLED"]
    assert doctor.code == 1 and stalled and "resumes after the last committed batch" in stalled[0]["fix"]

    fast(items)
    assert migrate("backfill run").code == 0
    assert all_done_once(items) == (0, 0), "the new worker went on from the checkpoints; no row done twice"
    assert _status(migrate)["state"] == "completed"
    assert not [f for f in migrate("doctor", "--json").json() if f["code"].startswith("BACKFILL_")]


def test_a_failing_first_batch_is_recorded_and_retry_never_completes_it_without_filling(items, migrate):
    items.execute(
        "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'disk quota'; END $$"
    )
    items.execute("CREATE TRIGGER refuse BEFORE UPDATE ON items FOR EACH ROW EXECUTE FUNCTION refuse()")

    failed = migrate("backfill run")

    assert failed.code == 5 and "Traceback" not in failed.stderr
    status = _status(migrate)
    assert status["state"] == "failed" and "disk quota" in status["error"] and status["rows_done"] == 0
    doctor = [f for f in migrate("doctor", "--json").json() if f["code"] == "BACKFILL_FAILED"]
    assert doctor and "backfill retry --service platform items_doubled" in doctor[0]["fix"]

    assert migrate("backfill retry", "items_doubled").code == 0
    assert migrate("backfill run").code == 5, "the cause is still there: it fails again, it never completes"
    assert _status(migrate)["state"] == "failed"

    items.execute("DROP TRIGGER refuse ON items")
    assert migrate("backfill retry", "items_doubled").code == 0
    assert migrate("backfill run").code == 0
    assert all_done_once(items) == (0, 0)


def test_controls_refuse_what_the_state_does_not_allow_and_say_what_to_do(items, migrate):
    refused = migrate("backfill retry", "items_doubled")
    assert refused.code == 6 and "can't retry backfill 'items_doubled': it is pending" in refused.stderr
    assert migrate("backfill run").code == 0
    resumed = migrate("backfill resume", "items_doubled")
    assert resumed.code == 6 and "backfill restart --service platform items_doubled" in resumed.stderr
    assert migrate("backfill pause", "items_doubled").code == 6
    assert migrate("backfill restart", "items_doubled").code == 0
    assert migrate("backfill pause", "items_doubled").code == 0
    assert migrate("backfill resume", "items_doubled").code == 0
    assert backfill_state(items)[0] == "pending", "resumed before any batch: it starts from the beginning"
    assert migrate("backfill run").code == 0
    assert items.execute("SELECT min(touched), max(touched) FROM items").fetchone() == (2, 2)


def test_several_workers_share_the_key_range_and_the_start_is_logged_once_after_commit(items, migrations, db_url):
    slow(items, batch=100, pause_ms=10)

    workers = [start_worker(db_url, migrations) for _ in range(3)]
    outputs = [w.communicate(timeout=120) for w in workers]

    assert [w.returncode for w in workers] == [0, 0, 0], outputs
    assert all_done_once(items) == (0, 0)
    logged = sum(err.count("event=MIGRATION_BACKFILL_STARTED") for _, err in outputs)
    audited = items.execute(
        "SELECT count(*) FROM platform_migrations_audit WHERE event = 'MIGRATION_BACKFILL_STARTED'"
    ).fetchone()
    assert (logged, audited[0]) == (1, 1)
    assert sum(err.count("event=MIGRATION_BACKFILL_COMPLETED") for _, err in outputs) == 1
    sharing = items.execute(
        "SELECT count(DISTINCT worker), count(*) FROM platform_migrations_backfill_slices WHERE done"
    ).fetchone()
    assert sharing[0] >= 2 and sharing[1] >= 4, "the slices were shared out between the workers"


def test_a_replication_slot_retaining_wal_holds_the_worker_back_and_status_says_why(items, migrations, migrate, db_url):
    slow(items, batch=500, pause_ms=0)
    items.execute("UPDATE platform_migrations_backfills SET max_slot_wal_mb = 1")
    items.execute("SELECT pg_create_physical_replication_slot('standby_down', true)")
    try:
        worker = start_worker(db_url, migrations)
        wait_until(lambda: (_status(migrate)["throttled"] or "").startswith("replication slot 'standby_down' retains"))
        held = backfill_state(items)[1]
        status = migrate("backfill status")
        assert "held back: replication slot 'standby_down' retains" in status.stdout
        assert _status(migrate)["state"] == "running", "a held-back worker still beats: not stalled"
        assert backfill_state(items)[1] == held, "no batch while the slot retains too much WAL"
    finally:
        items.execute("SELECT pg_drop_replication_slot('standby_down')")
    assert worker.wait(timeout=120) == 0
    worker.communicate()
    assert all_done_once(items) == (0, 0)
    assert _status(migrate)["throttled"] is None
