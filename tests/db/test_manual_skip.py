"""The runbook's manual skip: a row inserted by hand marks a migration applied; it never runs."""

from __future__ import annotations


def test_row_inserted_by_hand_with_only_a_version_is_never_applied(migrations, migrate, db):
    migrations.write("0001_create.sql", "CREATE TABLE organisations (id bigint PRIMARY KEY);")
    migrations.write("0002_broken.sql", "ALTER TABLE nowhere ADD COLUMN x int;")
    assert migrate("up").code == 5
    db.execute("DELETE FROM platform_migrations WHERE version = 2")
    db.execute("INSERT INTO platform_migrations (version) VALUES (2)")
    migrations.write("0003_next.sql", "CREATE TABLE later (id int);")

    run = migrate("up")

    assert run.code == 0, run.stderr
    assert [line.split("version=")[1].split()[0] for line in run.log_lines("MIGRATION_APPLIED")] == ["0003"]
    status = {m["version"]: m for m in migrate("status", "--json").json()[0]["migrations"]}
    assert status["0002"]["status"] == "skipped"
    assert status["0002"]["detail"].startswith("marked applied by hand by ")


def test_failed_row_updated_to_skipped_by_hand_is_not_retried(migrations, migrate, db):
    migrations.write("0001_broken.sql", "ALTER TABLE nowhere ADD COLUMN x int;")
    assert migrate("up").code == 5

    db.execute("UPDATE platform_migrations SET status = 'skipped' WHERE version = 1")

    assert migrate("up").code == 0


def test_runbook_verification_query_works_as_written(migrations, migrate, db):
    migrations.write("0001_create.sql", "CREATE TABLE organisations (id bigint PRIMARY KEY);")
    migrate("up")

    rows = db.execute(
        "SELECT version, applied_at FROM platform_migrations ORDER BY applied_at DESC LIMIT 5;"
    ).fetchall()

    assert [r[0] for r in rows] == [1]


def _failing_history(migrations, migrate):
    migrations.write("0001_create.sql", "CREATE TABLE organisations (id bigint PRIMARY KEY);")
    migrations.write("0002_broken.sql", "CREATE TABLE region (id int);\nALTER TABLE nowhere ADD COLUMN x int;")
    assert migrate("up").code == 5


def _versions_applied(run):
    return [line.split("version=")[1].split()[0] for line in run.log_lines("MIGRATION_APPLIED")]


def test_runbook_insert_of_a_failed_version_is_a_skip_not_a_duplicate_key(migrations, migrate, db):
    _failing_history(migrations, migrate)

    db.execute("INSERT INTO platform_migrations (version) VALUES (2)")
    migrations.write("0003_next.sql", "CREATE TABLE later (id int);")
    run = migrate("up")

    assert run.code == 0, run.stderr
    assert _versions_applied(run) == ["0003"]
    assert db.execute("SELECT to_regclass('region')").fetchone() == (None,)
    status = {m["version"]: m for m in migrate("status", "--json").json()[0]["migrations"]}
    assert status["0002"]["status"] == "skipped"
    assert 'its failed attempt: relation "nowhere" does not exist' in status["0002"]["detail"]


def test_runbook_update_of_a_failed_row_to_applied_is_a_skip_never_a_desync(migrations, migrate, db):
    _failing_history(migrations, migrate)

    db.execute("UPDATE platform_migrations SET status = 'applied' WHERE version = 2")

    assert db.execute("SELECT status, effects FROM platform_migrations WHERE version = 2").fetchone() == (
        "skipped",
        None,
    )
    assert migrate("verify").code == 0
    migrations.write("0003_next.sql", "CREATE TABLE later (id int);")
    run = migrate("up")
    assert run.code == 0, run.stderr
    assert _versions_applied(run) == ["0003"]
    assert migrate("up").code == 0


def test_hand_insert_saying_applied_is_stored_as_skipped(migrations, migrate, db):
    migrations.write("0001_create.sql", "CREATE TABLE organisations (id bigint PRIMARY KEY);")
    migrations.write("0002_region.sql", "CREATE TABLE region (id int);")
    migrate("up")
    db.execute("DELETE FROM platform_migrations WHERE version = 2")
    db.execute("DROP TABLE region")

    db.execute("INSERT INTO platform_migrations (version, status) VALUES (2, 'applied')")

    assert db.execute("SELECT status FROM platform_migrations WHERE version = 2").fetchone() == ("skipped",)
    assert migrate("up").code == 0
    assert migrate("verify").code == 0


def test_every_manual_skip_is_audited_with_who_and_when(migrations, migrate, db):
    _failing_history(migrations, migrate)
    migrations.write("0003_broken_too.sql", "ALTER TABLE nowhere ADD COLUMN y int;")
    db.execute("SET application_name = 'night-shift-psql'")

    db.execute("UPDATE platform_migrations SET status = 'applied' WHERE version = 2")
    assert migrate("up").code == 5
    db.execute("INSERT INTO platform_migrations (version) VALUES (3)")

    events = migrate("audit", "--event", "MIGRATION_SKIPPED", "--json").json()[0]["events"]
    assert [(e["version"], e["actor"], e["details"]["operation"]) for e in events] == [
        (3, "postgres", "INSERT"),
        (2, "postgres", "UPDATE"),
    ]
    assert all(e["at"] and e["details"]["application_name"] == "night-shift-psql" for e in events)
    assert events[1]["details"]["previous_status"] == "failed"
    assert "nowhere" in events[1]["details"]["previous_error"]
    assert [e["version"] for e in migrate("audit", "--event", "MIGRATION_FAILED", "--json").json()[0]["events"]] == [
        3,
        2,
    ]


def test_runbook_query_never_shows_a_failed_attempt_as_applied(migrations, migrate, db):
    _failing_history(migrations, migrate)

    rows = db.execute(
        "SELECT version, applied_at FROM platform_migrations ORDER BY applied_at DESC LIMIT 5;"
    ).fetchall()

    assert [(version, applied_at is None) for version, applied_at in rows] == [(2, True), (1, False)]
    history = {r["version"]: r for r in migrate("history", "--json").json()[0]["rows"]}
    assert history[2]["status"] == "failed"
    assert history[2]["applied_at"] is None and history[2]["attempted_at"] is not None


def test_failed_attempt_of_an_older_release_is_no_longer_shown_as_applied(migrations, migrate, db):
    _failing_history(migrations, migrate)
    db.execute("DROP TRIGGER manual_skip ON platform_migrations; DROP TRIGGER manual_truncate ON platform_migrations")
    db.execute("UPDATE platform_migrations SET applied_at = now() WHERE version = 2")
    db.execute("ALTER TABLE platform_migrations ALTER COLUMN applied_at SET NOT NULL")
    migrations.write("0002_broken.sql", "CREATE TABLE region (id int);")

    assert migrate("up").code == 0

    assert db.execute(
        "SELECT count(*) FROM pg_trigger WHERE tgname IN ('manual_skip', 'manual_delete', 'manual_truncate')"
    ).fetchone() == (3,)
    db.execute("INSERT INTO platform_migrations (version) VALUES (7)")
    assert db.execute(
        "SELECT count(*) FROM platform_migrations_audit WHERE event = 'MIGRATION_SKIPPED'"
    ).fetchone() == (1,)


def test_tool_retry_of_a_failed_migration_is_not_taken_for_a_skip(migrations, migrate, db):
    _failing_history(migrations, migrate)
    migrations.write("0002_broken.sql", "CREATE TABLE region (id int);")

    run = migrate("up")

    assert run.code == 0, run.stderr
    assert db.execute(
        "SELECT status, applied_at IS NOT NULL FROM platform_migrations WHERE version = 2"
    ).fetchone() == (
        "applied",
        True,
    )
    assert db.execute(
        "SELECT count(*) FROM platform_migrations_audit WHERE event = 'MIGRATION_SKIPPED'"
    ).fetchone() == (0,)


def test_a_hand_delete_of_a_tracking_row_is_audited_with_who_and_when(migrations, migrate, db):
    _failing_history(migrations, migrate)
    db.execute("SET application_name = 'night-shift-psql'")

    db.execute("DELETE FROM platform_migrations WHERE version = 1")
    db.execute("DELETE FROM platform_migrations WHERE version = 2")
    db.execute("INSERT INTO platform_migrations (version) VALUES (2)")

    audit = migrate("audit", "--json").json()[0]["events"]
    deleted = [e for e in audit if e["event"] == "MIGRATION_TRACKING_ROW_DELETED"]
    assert [(e["version"], e["actor"], e["details"]["deleted_row"]["status"]) for e in deleted] == [
        (2, "postgres", "failed"),
        (1, "postgres", "applied"),
    ]
    assert all(e["at"] and e["details"]["application_name"] == "night-shift-psql" for e in deleted)
    assert "DELETE FROM platform_migrations WHERE version = 1" in deleted[1]["details"]["statement"]
    assert [e["version"] for e in audit if e["event"] == "MIGRATION_SKIPPED"] == [2]
    assert migrate("audit", "--verify").code == 0
    doctor = migrate("doctor")
    assert "[warning] platform: MIGRATION_ROW_DELETED_BY_HAND: migration 1 is pending because its tracking row" in (
        doctor.stdout
    )
    assert "(applied) was deleted by hand by postgres" in doctor.stdout
    assert "mark-applied --service platform --version 1" in doctor.stdout


def test_the_tools_own_deletes_and_a_skip_replacing_a_failed_row_are_not_hand_deletes(migrations, migrate, db):
    _failing_history(migrations, migrate)
    db.execute("INSERT INTO platform_migrations (version) VALUES (2)")
    migrations.write("0003_next.sql", "CREATE TABLE later (id int);")
    assert migrate("up").code == 0
    db.execute("DROP TABLE later")

    assert migrate("up", env={"MIGRATE_REPAIR_TRACKING": "1"}).code == 0

    events = [e["event"] for e in migrate("audit", "--json").json()[0]["events"]]
    assert "MIGRATION_TRACKING_REPAIRED" in events and "MIGRATION_TRACKING_ROW_DELETED" not in events


def test_a_hand_truncate_of_the_tracking_table_is_audited(migrations, migrate, db):
    _failing_history(migrations, migrate)

    db.execute("TRUNCATE platform_migrations")

    events = migrate("audit", "--event", "MIGRATION_TRACKING_TRUNCATED", "--json").json()[0]["events"]
    assert [(e["actor"], e["details"]["operation"]) for e in events] == [("postgres", "TRUNCATE")]
