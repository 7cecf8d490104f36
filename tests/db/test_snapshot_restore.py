"""The runbook's restore path survives a crash loop: one snapshot per upgrade, a restore that never hangs."""

from __future__ import annotations

import json

import psycopg

from scrydon_migrate import tracking

RELEASE_1 = {"0001_organisations.sql": "CREATE TABLE organisations (id bigint PRIMARY KEY, name text NOT NULL);"}
RELEASE_2 = {
    "0002_region.sql": "ALTER TABLE organisations ADD COLUMN region text NULL;",
    "0003_backfill.sql": "UPDATE organisations SET region = missing_column;",
}


def _write(migrations, files):
    for name, sql in files.items():
        migrations.write(name, sql)


def _manifest(folder):
    return json.loads((folder / "platform.manifest.json").read_text())


def _columns(conn):
    return [
        r[0]
        for r in conn.execute(
            "SELECT attname FROM pg_attribute WHERE attrelid = 'organisations'::regclass "
            "AND attnum > 0 AND NOT attisdropped ORDER BY attnum"
        ).fetchall()
    ]


def test_a_crash_looping_pod_keeps_the_snapshot_taken_before_the_upgrade(migrations, migrate, db, db_url, tmp_path):
    _write(migrations, RELEASE_1)
    assert migrate("up").code == 0
    _write(migrations, RELEASE_2)
    snapshots = tmp_path / "pre-upgrade"

    first = migrate("up", "--snapshot-to", str(snapshots))
    taken = _manifest(snapshots)
    retry = migrate("up", "--snapshot-to", str(snapshots))

    assert first.code == 5 and first.log_lines("SNAPSHOT_TAKEN")
    assert retry.code == 5 and retry.log_lines("SNAPSHOT_KEPT") and not retry.log_lines("SNAPSHOT_TAKEN")
    assert _manifest(snapshots) == taken and taken["upgrade_to"] == 3
    db.close()
    assert migrate("snapshot restore", "--from", str(snapshots), "--yes").code == 0
    with psycopg.connect(db_url, autocommit=True) as conn:
        assert _columns(conn) == ["id", "name"], "the restore went back to before 0002, not to the retry's state"


def test_the_next_release_takes_its_own_snapshot(migrations, migrate, tmp_path):
    _write(migrations, RELEASE_1)
    snapshots = tmp_path / "pre-upgrade"
    assert migrate("up", "--snapshot-to", str(snapshots)).code == 0
    migrations.write("0002_region.sql", "ALTER TABLE organisations ADD COLUMN region text NULL;")

    run = migrate("up", "--snapshot-to", str(snapshots))

    assert run.code == 0 and run.log_lines("SNAPSHOT_TAKEN")
    assert _manifest(snapshots)["upgrade_to"] == 2
    assert [t["version"] for t in _manifest(snapshots)["tracking"]] == [1]


def test_the_audit_trail_of_the_failed_upgrade_survives_the_restore(migrations, migrate, db, db_url, tmp_path):
    _write(migrations, RELEASE_1)
    assert migrate("up").code == 0
    snapshots = tmp_path / "pre-upgrade"
    assert migrate("snapshot create", "--to", str(snapshots)).code == 0
    _write(migrations, RELEASE_2)
    assert migrate("up").code == 5
    before = db.execute("SELECT id, event, version FROM platform_migrations_audit ORDER BY id").fetchall()
    db.close()

    assert migrate("snapshot restore", "--from", str(snapshots), "--yes").code == 0

    with psycopg.connect(db_url, autocommit=True) as conn:
        after = conn.execute("SELECT id, event, version FROM platform_migrations_audit ORDER BY id").fetchall()
    assert after[: len(before)] == before
    assert ("MIGRATION_FAILED", 3) in [(event, version) for _, event, version in after]
    assert after[-1][1] == "SNAPSHOT_RESTORED" and after[-1][0] > before[-1][0]
    events = migrate("audit", "--event", "SNAPSHOT_RESTORED", "--json").json()[0]["events"]
    assert events[0]["details"]["audit_events_kept"] == len(before) - 1, "the snapshot holds the first event only"


def test_restore_waits_for_the_migration_lock_and_gives_up_changing_nothing(migrations, migrate, db, db_url, tmp_path):
    _write(migrations, RELEASE_1)
    assert migrate("up").code == 0
    snapshots = tmp_path / "snap"
    assert migrate("snapshot create", "--to", str(snapshots)).code == 0
    db.execute("CREATE TABLE made_later (id int)")
    with psycopg.connect(db_url, autocommit=True, application_name="migrating-pod") as holder:
        holder.execute(
            "SELECT pg_advisory_lock(%s)", (tracking.lock_key("public.platform_migrations", holder.info.dbname),)
        )

        run = migrate("snapshot restore", "--from", str(snapshots), "--yes", env={"MIGRATE_LOCK_WAIT": "1"})

    assert run.code == 4
    assert "migrating-pod" in run.stderr
    assert db.execute("SELECT to_regclass('made_later')").fetchone() == ("made_later",)


def test_a_session_holding_a_table_makes_the_restore_fail_never_hang(migrations, migrate, db, db_url, tmp_path):
    _write(migrations, RELEASE_1)
    assert migrate("up").code == 0
    snapshots = tmp_path / "snap"
    assert migrate("snapshot create", "--to", str(snapshots)).code == 0
    db.execute("CREATE TABLE made_later (id int)")
    with psycopg.connect(db_url, application_name="long-report") as reader:
        reader.execute("SELECT count(*) FROM organisations")

        run = migrate("snapshot restore", "--from", str(snapshots), "--yes", env={"MIGRATE_LOCK_TIMEOUT_MS": "200"})

    assert run.code == 6
    assert "lock timeout" in run.stderr
    assert "rolled back: the database is as it was before" in run.stderr
    assert db.execute("SELECT to_regclass('made_later')").fetchone() == ("made_later",)


def _restore(migrate, snapshots, env=None):
    return migrate("snapshot restore", "--from", str(snapshots), "--yes", env=env)


def test_a_schema_of_1500_tables_is_restored_and_a_restore_failing_part_way_is_run_again(
    migrations, migrate, db, db_url, tmp_path
):
    """A batched restore can't be undone: each failure says what it left, up refuses, the re-run finishes it."""
    role = f"reports_{db_url.rsplit('/', 1)[1]}"[:60]
    migrations.write(
        "0001_many.sql",
        "DO $$ BEGIN FOR i IN 1..1500 LOOP EXECUTE format("
        "'CREATE TABLE t%s (id bigserial PRIMARY KEY, note text, at timestamptz); CREATE INDEX ON t%s (at)', i, i);"
        " END LOOP; END $$;",
    )
    assert migrate("up").code == 0
    db.execute("INSERT INTO t1 (note) SELECT 'n' || g FROM generate_series(1, 100) g")
    db.execute(f'CREATE ROLE "{role}"; GRANT SELECT ON t1499 TO "{role}"')
    snapshots = tmp_path / "snap"
    assert migrate("snapshot create", "--to", str(snapshots)).code == 0
    migrations.write("0002_broken.sql", "ALTER TABLE nowhere ADD COLUMN x int;")
    assert migrate("up").code == 5, "the failed upgrade, whose audit trail the restore keeps"
    migrations.path.joinpath("0002_broken.sql").unlink()
    db.execute("DROP TABLE t7")
    db.execute("CREATE TABLE made_later (id int)")

    with psycopg.connect(db_url, application_name="long-report") as reader:
        reader.execute("SELECT count(*) FROM t1400")
        in_drop = _restore(migrate, snapshots, env={"MIGRATE_LOCK_TIMEOUT_MS": "200"})
    refused = migrate("up")
    doctor = migrate("doctor", "--json")
    db.execute(f'DROP OWNED BY "{role}"; DROP ROLE "{role}"')
    in_replay = _restore(migrate, snapshots)
    refused_again = migrate("up")
    db.execute(f'CREATE ROLE "{role}"')
    try:
        run = _restore(migrate, snapshots)
    finally:
        db.execute(f'DROP OWNED BY "{role}"; DROP ROLE "{role}"')

    assert in_drop.code == 6 and "lock timeout" in in_drop.stderr
    assert "tables were dropped before the drop failed; the other tables" in in_drop.stderr
    assert "run the same restore again: scrydon-migrate snapshot restore --service platform" in in_drop.stderr
    assert refused.code == 6 and refused.log_lines("SNAPSHOT_RESTORE_INCOMPLETE")
    assert "is running or did not finish: " in refused.stderr and "nothing was done" in refused.stderr
    finding = _findings(doctor)["SNAPSHOT_RESTORE_INCOMPLETE"]
    assert doctor.code == 1 and "run the same restore again" in finding["fix"]
    assert in_replay.code == 6
    assert "every schema was dropped and the replay of the snapshot stopped at its entry ACL" in in_replay.stderr
    assert "t1499" in in_replay.stderr and "what the snapshot holds before it is restored" in in_replay.stderr
    assert refused_again.code == 6 and "the replay of the snapshot stopped" in refused_again.stderr
    assert run.code == 0, run.stderr
    assert "mode=batched" in run.log_lines("SNAPSHOT_RESTORED")[0]
    with psycopg.connect(db_url, autocommit=True) as conn:
        tables = conn.execute("SELECT count(*) FROM pg_tables WHERE tablename ~ '^t[0-9]+$'").fetchone()
        assert tables == (1500,)
        assert conn.execute("SELECT to_regclass('made_later')").fetchone() == (None,)
        assert conn.execute("SELECT count(*) FROM t1").fetchone() == (100,)
        assert conn.execute("SELECT status FROM platform_migrations").fetchall() == [("applied",)]
        assert conn.execute("SELECT to_regnamespace('scrydon_migrate_restore')").fetchone() == (None,)
    events = [(e["event"], e["version"]) for e in migrate("audit", "--json").json()[0]["events"]]
    assert ("MIGRATION_FAILED", 2) in events and events.count(("SNAPSHOT_RESTORED", None)) == 1
    assert migrate("audit", "--verify").code == 0
    assert migrate("up").code == 0


def _findings(run):
    return {f["code"]: f for f in run.json()}
