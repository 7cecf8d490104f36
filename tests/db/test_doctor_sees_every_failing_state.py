"""`doctor` sees every state in which `up` exits non-zero, and names it with the fix `up` gives.

Each case builds the state for real, runs `up` as a pod would, then `doctor` as the operator would.
States `up` itself leaves (a failed migration) are built by running it; those a killed pod or an
operator leaves are built as they would (the tool's own row writes carry `tracking.TOOL_WRITE`).
"""

from __future__ import annotations

import psycopg
import pytest
from psycopg import sql

from scrydon_migrate import snapshot, tracking
from tests.fixtures.cli import run_cli

ORGS = "CREATE TABLE organisations (id bigint PRIMARY KEY, slug text);"
JOURNALED = (
    "CREATE INDEX CONCURRENTLY organisations_slug_idx ON organisations (slug);\n"
    "CREATE INDEX CONCURRENTLY organisations_region_idx ON organisations (region);\n"
)
BACKFILLED = (
    "ALTER TABLE organisations ADD COLUMN slug_upper text NULL;\n"
    "-- migrate:backfill orgs_upper table=organisations key=id\n"
    "UPDATE organisations SET slug_upper = upper(slug) WHERE id BETWEEN $1 AND $2;\n"
)
REQUIRES = "-- migrate:requires-backfill orgs_upper\nSELECT 1;"


def _findings(run):
    return {f["code"]: f for f in run.json()}


def _edited_applied_migration(migrations, migrate, db):
    migrations.write("0001_create.sql", ORGS)
    assert migrate("up").code == 0
    migrations.write("0001_create.sql", ORGS + "\nCREATE TABLE extra (id int);")
    return {}


def _unparsable_file(migrations, migrate, db):
    migrations.write("0001_create.sql", ORGS)
    assert migrate("up").code == 0
    migrations.write("0002_broken.sql", "CREATE TABLE (;")
    return {}


def _misnamed_files(migrations, migrate, db):
    migrations.write("0001_create.sql", ORGS)
    migrations.write("0001_again.sql", "CREATE TABLE again (id int);")
    return {}


def _out_of_order_file(migrations, migrate, db):
    migrations.write("0001_create.sql", ORGS)
    migrations.write("0003_later.sql", "CREATE TABLE later (id int);")
    assert migrate("up").code == 0
    migrations.write("0002_forgotten.sql", "CREATE TABLE forgotten (id int);")
    return {}


def _guard_refusal(migrations, migrate, db):
    migrations.write("0001_create.sql", ORGS)
    assert migrate("up").code == 0
    db.execute("INSERT INTO organisations SELECT g, 's' || g FROM generate_series(1, 5000) g")
    db.execute("ANALYZE organisations")
    migrations.write("0002_index.sql", "CREATE INDEX organisations_slug_idx ON organisations (slug);")
    return {"MIGRATE_LARGE_TABLE_ROWS": "1000"}


def _backfill_registered(migrations, migrate, db, batch=BACKFILLED):
    migrations.write("0001_create.sql", ORGS)
    assert migrate("up").code == 0
    db.execute("INSERT INTO organisations SELECT g, 's' || g FROM generate_series(1, 100) g")
    migrations.write("0002_upper.sql", batch)
    assert migrate("up").code == 0
    migrations.write("0003_require.sql", REQUIRES)


def _waiting_for_a_backfill(migrations, migrate, db):
    _backfill_registered(migrations, migrate, db)
    return {}


def _backfill_failed(migrations, migrate, db):
    _backfill_registered(migrations, migrate, db, BACKFILLED.replace("upper(slug)", "(1 / (id - 50))::text"))
    assert migrate("backfill run").code == 5
    return {}


def _backfill_worker_dead(migrations, migrate, db):
    _backfill_registered(migrations, migrate, db)
    db.execute(
        "UPDATE platform_migrations_backfills SET state = 'running', worker = 'backfill-7f9c',"
        " started_at = now() - interval '1 hour', heartbeat_at = now() - interval '1 hour'"
    )
    return {}


def _journaled_failure(migrations, migrate):
    migrations.write("0001_create.sql", ORGS)
    migrations.write("0002_index.sql", JOURNALED)
    assert migrate("up").code == 5


def _edited_before_resume(migrations, migrate, db):
    _journaled_failure(migrations, migrate)
    migrations.write("0002_index.sql", JOURNALED.replace("(slug)", "(lower(slug))"))
    return {}


def _damaged_tracking_table(migrations, migrate, db):
    migrations.write("0001_create.sql", ORGS)
    assert migrate("up").code == 0
    db.execute("ALTER TABLE platform_migrations DROP COLUMN checksum")
    migrations.write("0002_more.sql", "CREATE TABLE workspaces (id int);")
    return {}


def _audit_log_dropped(migrations, migrate, db):
    migrations.write("0001_create.sql", ORGS)
    assert migrate("up").code == 0
    db.execute("DROP TABLE platform_migrations_audit")
    migrations.write("0002_more.sql", "CREATE TABLE workspaces (id int);")
    return {}


def _failed_migration(migrations, migrate, db):
    migrations.write("0001_broken.sql", "ALTER TABLE nowhere ADD COLUMN x int;")
    return {}


def _repairable_desync(migrations, migrate, db):
    migrations.write("0001_create.sql", ORGS)
    migrations.write("0002_regions.sql", "CREATE TABLE regions (id int);")
    assert migrate("up").code == 0
    db.execute("DROP TABLE regions")
    return {}


def _repairable_tail_after_a_comment(migrations, migrate, db):
    migrations.write("0001_create.sql", ORGS)
    migrations.write("0002_comment.sql", "COMMENT ON TABLE organisations IS 'organisations';")
    migrations.write(
        "0003_index.sql", "-- migrate:no-transaction\nCREATE INDEX CONCURRENTLY orgs_slug ON organisations (slug);"
    )
    assert migrate("up").code == 0
    db.execute("COMMENT ON TABLE organisations IS NULL; DROP INDEX orgs_slug")
    return {}


def _partial_desync(migrations, migrate, db):
    migrations.write("0001_create.sql", ORGS)
    migrations.write("0002_pair.sql", "CREATE TABLE regions (id int);\nCREATE TABLE zones (id int);")
    assert migrate("up").code == 0
    db.execute("DROP TABLE zones")
    return {}


def _non_contiguous_desync(migrations, migrate, db):
    migrations.write("0001_create.sql", ORGS)
    migrations.write("0002_regions.sql", "CREATE TABLE regions (id int);")
    migrations.write("0003_zones.sql", "CREATE TABLE zones (id int);")
    assert migrate("up").code == 0
    db.execute("DROP TABLE regions")
    return {}


def _restore_killed_part_way(migrations, migrate, db):
    migrations.write("0001_create.sql", ORGS)
    assert migrate("up").code == 0
    snapshot.mark_started(db, "platform", migrations.path.parent / "snap" / "platform.dump", [])
    return {}


CASES = {
    "edited applied migration": (_edited_applied_migration, 6, "MIGRATION_CHECKSUM_MISMATCH", "restore the file"),
    "unparsable file": (_unparsable_file, 3, "MIGRATION_SOURCE_INVALID", "0002_broken.sql"),
    "duplicate version": (_misnamed_files, 3, "MIGRATION_SOURCE_INVALID", "0001"),
    "out-of-order file": (_out_of_order_file, 6, "MIGRATION_REFUSED", "--allow-out-of-order"),
    "guard refusal": (_guard_refusal, 6, "MIGRATION_UNSAFE_REFUSED", "CREATE INDEX CONCURRENTLY"),
    "waiting for a backfill": (_waiting_for_a_backfill, 6, "MIGRATION_BACKFILL_REQUIRED", "backfill run"),
    "required backfill failed": (_backfill_failed, 6, "BACKFILL_FAILED", "backfill retry --service platform"),
    "backfill worker dead": (_backfill_worker_dead, 6, "BACKFILL_STALLED", "start the backfill worker again"),
    "failed migration": (_failed_migration, 5, "MIGRATION_FAILED", "mark-applied --service platform --version 1"),
    "edited before resume": (_edited_before_resume, 6, "MIGRATION_REFUSED", "restore the statements that already ran"),
    "repairable desync": (_repairable_desync, 6, "TRACKING_DESYNC", "MIGRATE_REPAIR_TRACKING=1"),
    "repairable tail": (_repairable_tail_after_a_comment, 6, "TRACKING_DESYNC", "rewind tracking from 0002"),
    "partial desync": (_partial_desync, 6, "TRACKING_DESYNC", "contact support"),
    "non-contiguous desync": (_non_contiguous_desync, 6, "TRACKING_DESYNC", "contact support"),
    "damaged tracking table": (_damaged_tracking_table, 6, "MIGRATION_TRACKING_DAMAGED", "restore the table"),
    "audit log dropped": (_audit_log_dropped, 6, "AUDIT_LOG_MISSING", "audit --recreate --service platform"),
    "restore killed part-way": (_restore_killed_part_way, 6, "SNAPSHOT_RESTORE_INCOMPLETE", "run the same restore"),
}


@pytest.mark.parametrize("case", CASES)
def test_doctor_exits_1_naming_each_state_that_fails_up(case, migrations, migrate, db):
    build, up_code, code, fix = CASES[case]
    env = build(migrations, migrate, db)

    up = migrate("up", env=env)
    doctor = migrate("doctor", "--json", env=env)

    assert up.code == up_code, up.stderr
    assert doctor.code == 1, doctor.stdout + doctor.stderr
    finding = _findings(doctor)[code]
    assert finding["severity"] == "error"
    assert fix in finding["summary"] + finding["fix"]


def test_a_lock_held_longer_than_pods_wait_is_an_error(migrations, migrate, db_url):
    migrations.write("0001_create.sql", ORGS)
    env = {"MIGRATE_LOCK_WAIT": "1"}
    with psycopg.connect(db_url, autocommit=True, application_name="stuck-pod") as holder:
        holder.execute(
            "SELECT pg_advisory_lock(%s)", (tracking.lock_key("public.platform_migrations", holder.info.dbname),)
        )
        holder_pid = holder.info.backend_pid

        up = migrate("up", env=env)
        doctor = migrate("doctor", "--json", env=env)

    assert up.code == 4
    assert doctor.code == 1
    finding = _findings(doctor)["MIGRATION_LOCK_HELD"]
    assert finding["severity"] == "error"
    assert "(stuck-pod)" in finding["summary"] and "give up after 1 s (exit 4)" in finding["summary"]
    assert f"pg_terminate_backend({holder_pid})" in finding["fix"]


def test_a_lock_timeout_gets_the_lock_advice_not_fix_forward(migrations, migrate, db, db_url):
    migrations.write("0001_create.sql", ORGS)
    assert migrate("up").code == 0
    migrations.write("0002_column.sql", "ALTER TABLE organisations ADD COLUMN region text NULL;")
    env = {"MIGRATE_LOCK_TIMEOUT_MS": "50", "MIGRATE_LOCK_RETRIES": "0"}
    with psycopg.connect(db_url, application_name="nightly-report") as reader:
        reader.execute("SELECT count(*) FROM organisations")
        reader_pid = reader.info.backend_pid

        up = migrate("up", env=env)
        doctor = migrate("doctor", "--json", env=env)

    assert up.code == 5
    assert doctor.code == 1
    fix = _findings(doctor)["MIGRATION_FAILED"]["fix"]
    assert "Do not edit the migration" in fix and "fix forward" not in fix
    assert f"pid {reader_pid} (nightly-report, idle in transaction" in fix
    assert "--lock-timeout-ms" in fix


def test_an_invalid_index_is_an_error(migrations, migrate, db):
    migrations.write("0001_create.sql", ORGS)
    assert migrate("up").code == 0
    db.execute("INSERT INTO organisations VALUES (1, 'a'), (2, 'a')")
    with pytest.raises(psycopg.errors.UniqueViolation):
        db.execute("CREATE UNIQUE INDEX CONCURRENTLY organisations_slug_key ON organisations (slug)")

    up = migrate("up")
    doctor = migrate("doctor", "--json")

    assert up.code == 0, "an INVALID index needs an operator, though up may pass"
    assert doctor.code == 1
    finding = _findings(doctor)["INVALID_INDEX"]
    assert finding["severity"] == "error"
    assert "DROP INDEX CONCURRENTLY organisations_slug_key" in finding["fix"]


def test_unknown_newer_versions_pass_up_and_doctor_alike(migrations, migrate, db):
    migrations.write("0001_create.sql", ORGS)
    newer = migrations.write("0002_newer.sql", "CREATE TABLE newer (id int);")
    assert migrate("up").code == 0
    newer.unlink()

    up = migrate("up")
    doctor = migrate("doctor", "--json")

    assert up.code == 0 and up.log_lines("MIGRATION_UNKNOWN_NEWER")
    assert doctor.code == 0
    assert "2" in _findings(doctor)["UNKNOWN_NEWER_VERSIONS"]["summary"]


def test_a_journaled_migration_left_running_by_a_killed_pod(migrations, migrate, db):
    _journaled_failure(migrations, migrate)
    db.execute(
        "UPDATE platform_migrations SET status = 'running', error = NULL, sqlstate = NULL, failed_statement = NULL,"
        f" failed_line = NULL WHERE version = 2 AND {tracking.TOOL_WRITE}"
    )

    doctor = migrate("doctor")
    up = migrate("up")

    assert doctor.code == 1
    assert "[error] platform: MIGRATION_PARTLY_APPLIED: migration 2 (0002_index.sql) was interrupted" in doctor.stdout
    assert "up resumes at statement 2 (statements 1-1 stay applied" in doctor.stdout
    assert "mark-applied --service platform --version 2" in doctor.stdout
    assert up.code == 5 and "statement=2" in up.log_lines("MIGRATION_RESUMED")[0]


def _through(url, migrations, command):
    return run_cli(command, "--service", "platform", "--database-url", url, "--migrations-dir", str(migrations.path))


def test_a_transaction_pooler_in_front_of_the_database(migrations, migrate, db_url, transaction_pooler):
    migrations.write("0001_create.sql", ORGS)
    assert migrate("up").code == 0
    migrations.write("0002_more.sql", "CREATE TABLE workspaces (id int);")
    pooled = transaction_pooler.url(db_url)

    up = _through(pooled, migrations, "up")
    doctor = _through(pooled, migrations, "doctor")

    assert up.code == 3 and up.log_lines("DATABASE_POOLER_REFUSED")
    assert doctor.code == 1
    assert "[error] platform: DATABASE_POOLER_REFUSED: the database URL of service 'platform' goes through" in (
        doctor.stdout
    )
    assert "pool_mode = session" in doctor.stdout


def test_an_unreachable_database(migrations):
    migrations.write("0001_create.sql", ORGS)
    nowhere = "postgresql://postgres@127.0.0.1:1/platform"

    up = _through(nowhere, migrations, "up")
    doctor = _through(nowhere, migrations, "doctor")

    assert up.code == 4 and up.log_lines("DATABASE_UNAVAILABLE")
    assert doctor.code == 1
    assert "[error] platform: DATABASE_UNREACHABLE" in doctor.stdout and "DATABASE_URL" in doctor.stdout


@pytest.fixture
def role_without_create(pg_cluster, db_url, db):
    """A LOGIN role with no CREATE on the test database's public schema, and its URL."""
    role = f"nocreate_{db_url.rsplit('/', 1)[1]}"[:60]
    with psycopg.connect(pg_cluster.admin_url, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(role)))
    db.execute("REVOKE CREATE ON SCHEMA public FROM PUBLIC")
    yield db_url.replace("//postgres@", f"//{role}@")
    with psycopg.connect(pg_cluster.admin_url, autocommit=True) as admin:
        admin.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(db_url.rsplit("/", 1)[1]))
        )
        admin.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))


@pytest.mark.parametrize("applied_before", [False, True], ids=["fresh database", "tables of another role"])
def test_a_role_that_may_not_create_the_bookkeeping(migrations, migrate, role_without_create, applied_before):
    migrations.write("0001_create.sql", ORGS)
    if applied_before:
        assert migrate("up").code == 0
        migrations.write("0002_more.sql", "CREATE TABLE workspaces (id int);")

    up = _through(role_without_create, migrations, "up")
    doctor = _through(role_without_create, migrations, "doctor")

    assert up.code == 3 and up.log_lines("DATABASE_PRIVILEGE_MISSING")
    assert doctor.code == 1, doctor.stdout + doctor.stderr
    assert "[error] platform: DATABASE_PRIVILEGE_MISSING" in doctor.stdout
    assert "grant it CREATE on the schema" in doctor.stdout


def test_a_setting_up_cannot_read(migrations, migrate):
    migrations.write("0001_create.sql", ORGS)
    env = {"MIGRATE_LOCK_WAIT": "soon"}

    up = migrate("up", env=env)
    doctor = migrate("doctor", env=env)

    assert up.code == doctor.code == 3
    for run in (up, doctor):
        assert "lock_wait_s from MIGRATE_LOCK_WAIT must be a number of seconds, got 'soon'" in run.stderr
        assert run.log_lines("CONFIG_INVALID")


def test_a_migration_the_lock_budget_cancelled_gets_the_lock_advice(migrations, migrate, db):
    """Up's exit 5 on it needs writers waiting (tests/db/test_lock_budget.py); the failed row is as it leaves it."""
    migrations.write("0001_create.sql", ORGS)
    migrations.write(
        "0002_fill.sql", "ALTER TABLE organisations ADD COLUMN region text;\nUPDATE organisations SET x = 1;"
    )
    assert migrate("up").code == 5
    db.execute(
        "UPDATE platform_migrations SET sqlstate = '57014', error = 'cancelled by the lock budget: held an ACCESS"
        f" EXCLUSIVE lock on ''public.organisations'' for 5,012 ms' WHERE version = 2 AND {tracking.TOOL_WRITE}"
    )

    doctor = migrate("doctor", "--json")

    assert doctor.code == 1
    fix = _findings(doctor)["MIGRATION_FAILED"]["fix"]
    assert "it is cancelled again" in fix and '-- migrate:allow lock-budget reason="..."' in fix
    assert "fix forward" not in fix and "mark-applied --service platform --version 2" in fix
