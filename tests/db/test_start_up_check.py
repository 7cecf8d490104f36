"""The start-up check: a no-op ``up`` proven from the last full check, and every change that voids it.

A pod start that finds nothing pending answers from the state the last full check stored (catalog
generation, tracking rows, migration files) over libpq, without psycopg and without reading the
catalog. Whatever changed since — DDL of any session, a hand write to the tracking table, an edited
file, event triggers switched off — sends the start through the full check, which decides as always.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import psycopg
import pytest

from scrydon_migrate import startup
from scrydon_migrate.config import load_settings
from tests.fixtures.cli import clean_env

#: ``up`` in a process where importing psycopg or click fails: it exits 0 only when the start-up check,
#: answered before the command line's parser loads, proved it.
WITHOUT_PSYCOPG = (
    "import sys; sys.modules['psycopg'] = sys.modules['click'] = None; sys.argv[0] = 'scrydon-migrate';"
    " from scrydon_migrate.cli import main; main()"
)


@pytest.fixture
def applied(migrate, migrations, db):
    """Three migrations applied, then one no-op ``up`` (the full check, which stores the state)."""
    migrations.write("0001_accounts.sql", "CREATE TABLE accounts (id bigint PRIMARY KEY, email text NOT NULL);")
    migrations.write("0002_accounts_email.sql", "CREATE UNIQUE INDEX accounts_email ON accounts (email);")
    migrations.write(
        "0003_touch.sql",
        "CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;"
        " CREATE TRIGGER accounts_touch BEFORE UPDATE ON accounts FOR EACH ROW EXECUTE FUNCTION touch();",
    )
    assert migrate("up").code == 0
    assert migrate("up").code == 0
    return migrate


def _proven(db_url, folder):
    settings = load_settings(services=["platform"], database_url=db_url, migrations_dir=str(folder))
    return startup.proven_up_to_date(settings)


def _up_without_psycopg(db_url, migrations, *extra, env=None):
    args = ["up", "--service", "platform", "--database-url", db_url, "--migrations-dir", str(migrations.path), *extra]
    done = subprocess.run(
        [sys.executable, "-c", WITHOUT_PSYCOPG, *args],
        capture_output=True,
        text=True,
        env=clean_env(env),
        timeout=60,
        check=False,
    )
    return done.returncode, done.stderr


def test_a_no_op_start_is_proven_without_psycopg_or_click_and_logs_as_the_full_check_does(applied, db_url, migrations):
    full = applied("up")
    code, stderr = _up_without_psycopg(db_url, migrations)
    assert code == 0, stderr
    assert [line for line in stderr.splitlines() if line.startswith("[")] == full.log_lines()
    assert full.log_lines("MIGRATIONS_UP_TO_DATE") == [
        "[migrate-bootstrap] INFO: schema is up to date event=MIGRATIONS_UP_TO_DATE service=platform applied=3"
    ]


def test_the_no_op_line_written_without_logging_is_the_logged_one_in_json_too(applied, db_url, migrations):
    """The command writes a proven no-op's line itself; ``--lock-wait`` sends ``up`` through the command
    line's parser, where the same proof logs through ``logging``."""
    json_env = {"MIGRATE_LOG_FORMAT": "json"}
    logged = applied("up", "--lock-wait", "600", env=json_env)
    code, stderr = _up_without_psycopg(db_url, migrations, env=json_env)
    assert logged.code == code == 0, stderr
    written = [json.loads(line) for line in stderr.splitlines()]
    expected = [json.loads(line) for line in logged.stderr.splitlines()]
    assert [{k: v for k, v in d.items() if k != "ts"} for d in written] == [
        {k: v for k, v in d.items() if k != "ts"} for d in expected
    ]
    assert written[0]["event"] == "MIGRATIONS_UP_TO_DATE"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", written[0]["ts"])


def test_a_quiet_no_op_writes_no_line_but_its_result(applied, db_url, migrations):
    code, stderr = _up_without_psycopg(db_url, migrations, "-q")
    assert code == 0
    assert stderr == ""


def test_a_same_size_edit_that_moves_the_modification_time_takes_the_full_check(applied, db_url, migrations):
    path = migrations.path / "0002_accounts_email.sql"
    before = path.stat()
    path.write_text(path.read_text().replace("accounts_email", "accounts_emai1"))
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns + 1_000_000))
    assert path.stat().st_size == before.st_size
    assert _proven(db_url, migrations.path) is None
    assert "was edited" in applied("up").stderr


def test_a_removed_or_added_file_takes_the_full_check(applied, db_url, migrations):
    (migrations.path / "notes.txt").write_text("not a migration")
    assert _proven(db_url, migrations.path) is None
    (migrations.path / "notes.txt").unlink()
    assert _proven(db_url, migrations.path) is not None
    (migrations.path / "0003_touch.sql").unlink()
    assert _proven(db_url, migrations.path) is None


def test_an_object_dropped_by_another_session_is_a_desync_on_the_next_start(applied, db, db_url, migrations):
    db.execute("DROP INDEX accounts_email")
    assert _proven(db_url, migrations.path) is None
    result = applied("up")
    assert result.code == 6
    assert result.log_lines("MIGRATION_TRACKING_DESYNC")


def test_a_temporary_table_leaves_the_proof_standing(applied, db, db_url, migrations):
    db.execute("CREATE TEMP TABLE scratch AS SELECT 1 AS x")
    db.execute("DROP TABLE scratch")
    assert _proven(db_url, migrations.path) is not None


def test_ddl_that_is_not_a_desync_costs_one_full_check(applied, db, db_url, migrations):
    db.execute("CREATE TABLE reporting_cache (id int)")
    assert _proven(db_url, migrations.path) is None
    assert applied("up").code == 0
    assert _proven(db_url, migrations.path) is not None


def test_a_drop_still_open_during_the_full_check_is_caught_once_it_commits(applied, db, db_url, migrations):
    db.execute("CREATE TABLE reporting_cache (id int)")
    with psycopg.connect(db_url) as dropping:
        dropping.execute("DROP TABLE accounts CASCADE")
        assert applied("up").code == 0, "the drop is not committed yet: the schema is still whole"
        assert _proven(db_url, migrations.path) is None, "a check that ran beside open DDL stored nothing"
    result = applied("up")
    assert result.code == 6
    assert result.log_lines("MIGRATION_TRACKING_DESYNC")


def test_a_hand_write_to_the_tracking_table_takes_the_full_check(applied, db, db_url, migrations):
    db.execute("UPDATE platform_migrations SET applied_by = applied_by WHERE version = 2")
    assert _proven(db_url, migrations.path) is None
    assert applied("up").code == 0


def test_an_edited_migration_file_is_refused_by_the_full_check(applied, db_url, migrations):
    path = migrations.path / "0002_accounts_email.sql"
    path.write_text("CREATE INDEX accounts_email ON accounts (email);")
    assert _proven(db_url, migrations.path) is None
    result = applied("up")
    assert result.code != 0
    assert "was edited" in result.stderr


def test_a_new_migration_file_is_applied(applied, migrations, db):
    migrations.write("0004_accounts_name.sql", "ALTER TABLE accounts ADD COLUMN name text;")
    assert applied("up").code == 0
    assert db.execute("SELECT count(*) FROM platform_migrations WHERE version = 4").fetchone() == (1,)


def test_event_triggers_switched_off_take_the_full_check(applied, db, db_url, migrations):
    db.execute("ALTER EVENT TRIGGER scrydon_migrate_record_drop DISABLE")
    assert _proven(db_url, migrations.path) is None
    assert applied("up").code == 0
    assert _proven(db_url, migrations.path) is None, "no state is stored while a trigger is off"


def test_deleting_the_stored_state_forces_a_full_check(applied, db, db_url, migrations):
    db.execute("DELETE FROM platform_migrations_checked")
    assert _proven(db_url, migrations.path) is None
    assert applied("up").code == 0
    assert _proven(db_url, migrations.path) is not None


def test_an_unreachable_database_is_reported_by_the_full_path(migrations, migrate):
    migrations.write("0001_accounts.sql", "CREATE TABLE accounts (id bigint PRIMARY KEY);")
    env = {"PGCONNECT_TIMEOUT": "2"}
    result = migrate("up", "--database-url", "postgresql://nobody@127.0.0.1:1/none", env=env)
    assert result.code != 0
    assert "can't connect" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_configmap_mount_is_proven_and_its_update_is_seen(migrate, tmp_path, db_url):
    """A ConfigMap volume: files are links through ``..data`` to a timestamped folder swapped on update."""
    mount = tmp_path / "mount"
    first = mount / "..2026_12_01_10_00_00.1"
    first.mkdir(parents=True)
    (first / "0001_accounts.sql").write_text("CREATE TABLE accounts (id bigint PRIMARY KEY);")
    (mount / "..data").symlink_to(first.name)
    (mount / "0001_accounts.sql").symlink_to("..data/0001_accounts.sql")
    assert migrate("up", "--migrations-dir", str(mount)).code == 0
    assert migrate("up", "--migrations-dir", str(mount)).code == 0
    assert _proven(db_url, mount) is not None

    second = mount / "..2026_12_02_10_00_00.2"
    second.mkdir()
    (second / "0001_accounts.sql").write_text("CREATE TABLE accounts (id bigint PRIMARY KEY, email text);")
    (mount / "..data_tmp").symlink_to(second.name)
    (mount / "..data_tmp").rename(mount / "..data")

    assert _proven(db_url, mount) is None
    assert "was edited" in migrate("up", "--migrations-dir", str(mount)).stderr
