"""`doctor` sees every state in which `up` exits non-zero, and names it with the fix `up` gives.

Each case builds the state for real, runs `up` as a pod would, then `doctor` as the operator would.
"""

from __future__ import annotations

import psycopg
import pytest

from scrydon_migrate import tracking

ORGS = "CREATE TABLE organisations (id bigint PRIMARY KEY, slug text);"


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


def _waiting_for_a_backfill(migrations, migrate, db):
    migrations.write("0001_create.sql", ORGS)
    assert migrate("up").code == 0
    db.execute("INSERT INTO organisations SELECT g, 's' || g FROM generate_series(1, 100) g")
    migrations.write(
        "0002_upper.sql",
        "ALTER TABLE organisations ADD COLUMN slug_upper text NULL;\n"
        "-- migrate:backfill orgs_upper table=organisations key=id\n"
        "UPDATE organisations SET slug_upper = upper(slug) WHERE id BETWEEN $1 AND $2;\n",
    )
    migrations.write("0003_require.sql", "-- migrate:requires-backfill orgs_upper\nSELECT 1;")
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


CASES = {
    "edited applied migration": (_edited_applied_migration, 6, "MIGRATION_CHECKSUM_MISMATCH", "restore the file"),
    "unparsable file": (_unparsable_file, 3, "MIGRATION_SOURCE_INVALID", "0002_broken.sql"),
    "duplicate version": (_misnamed_files, 3, "MIGRATION_SOURCE_INVALID", "0001"),
    "out-of-order file": (_out_of_order_file, 6, "MIGRATION_REFUSED", "--allow-out-of-order"),
    "guard refusal": (_guard_refusal, 6, "MIGRATION_UNSAFE_REFUSED", "CREATE INDEX CONCURRENTLY"),
    "waiting for a backfill": (_waiting_for_a_backfill, 6, "MIGRATION_BACKFILL_REQUIRED", "backfill run"),
    "failed migration": (_failed_migration, 5, "MIGRATION_FAILED", "mark-applied --service platform --version 1"),
    "repairable desync": (_repairable_desync, 6, "TRACKING_DESYNC", "MIGRATE_REPAIR_TRACKING=1"),
    "partial desync": (_partial_desync, 6, "TRACKING_DESYNC", "contact support"),
    "non-contiguous desync": (_non_contiguous_desync, 6, "TRACKING_DESYNC", "contact support"),
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
    assert migrate("doctor", env=env).stdout.count(f"[error] platform: {code}") >= 1


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


def test_a_failed_backfill_is_an_error_though_up_passes(migrations, migrate, db):
    migrations.write("0001_create.sql", ORGS)
    assert migrate("up").code == 0
    db.execute("INSERT INTO organisations SELECT g, 's' || g FROM generate_series(1, 100) g")
    migrations.write(
        "0002_backfill.sql",
        "ALTER TABLE organisations ADD COLUMN ratio int NULL;\n"
        "-- migrate:backfill orgs_ratio table=organisations key=id\n"
        "UPDATE organisations SET ratio = 1 / (id - 50) WHERE id BETWEEN $1 AND $2;\n",
    )
    assert migrate("up").code == 0
    assert migrate("backfill run").code == 5

    up = migrate("up")
    doctor = migrate("doctor", "--json")

    assert up.code == 0
    assert doctor.code == 1
    finding = _findings(doctor)["BACKFILL_FAILED"]
    assert "division by zero" in finding["summary"]
    assert "backfill retry --service platform orgs_ratio" in finding["fix"]


def test_an_invalid_index_is_an_error(migrations, migrate, db):
    migrations.write("0001_create.sql", ORGS)
    assert migrate("up").code == 0
    db.execute("INSERT INTO organisations VALUES (1, 'a'), (2, 'a')")
    with pytest.raises(psycopg.errors.UniqueViolation):
        db.execute("CREATE UNIQUE INDEX CONCURRENTLY organisations_slug_key ON organisations (slug)")

    doctor = migrate("doctor", "--json")

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
