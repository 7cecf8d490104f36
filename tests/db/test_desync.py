"""Tracking desync: the tracking table claims migrations whose objects are gone.

The runbook's FATAL message, the evidence, the rewind offer only when provably
repairable, and the break-glass repair.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.fixtures.cli import run_cli

REPO = Path(__file__).resolve().parents[2]
FATAL = (
    "[migrate-bootstrap] FATAL: the migration tracking table is out of sync with the actual database schema — "
    "it claims migrations are applied whose objects do not exist. This is a tracking desync, not a migration bug."
)


@pytest.fixture
def agentic(tmp_path, db_url, db):
    """The agentic reference schema, applied; returns a runner for commands against it."""
    folder = tmp_path / "agentic"
    shutil.copytree(REPO / "migrations" / "agentic", folder)

    def run(*args, env=None):
        return run_cli(
            args[0],
            "--service",
            "agentic",
            "--database-url",
            db_url,
            "--migrations-dir",
            str(folder),
            *args[1:],
            env=env,
        )

    assert run("up").code == 0
    return run


def _tables(db, *names):
    return db.execute("SELECT array_agg(to_regclass(n)::text) FROM unnest(%s::text[]) n", (list(names),)).fetchone()[0]


def test_healthy_schema_passes_the_check_on_every_run(agentic):
    assert agentic("up").code == 0
    verified = agentic("verify", "--json")
    assert verified.code == 0
    assert verified.json()[0]["kind"] == "healthy"


def test_objects_of_the_last_two_migrations_dropped_is_a_repairable_desync(agentic, db):
    db.execute("DROP TABLE chat_message_feedback")
    db.execute("DROP FUNCTION workflow_run_stats(uuid, timestamptz)")

    run = agentic("up")

    assert run.code == 6
    lines = run.stderr.splitlines()
    assert lines[0].startswith(FATAL)
    assert any("0303 (0303_create_chat_message_feedback.sql): absent; missing" in line for line in lines)
    assert any("table public.chat_message_feedback" in line for line in lines)
    assert lines[-1].startswith(
        "[migrate-bootstrap] FATAL: Re-run with MIGRATE_REPAIR_TRACKING=1 to rewind tracking from "
        "0303 (0303_create_chat_message_feedback.sql)."
    )
    verified = agentic("verify")
    assert verified.code == 1 and "agentic: repairable" in verified.stdout


def test_repair_tracking_rewinds_and_reapplies_then_warns_while_left_on(agentic, db):
    db.execute("DROP TABLE chat_message_feedback")
    db.execute("DROP FUNCTION workflow_run_stats(uuid, timestamptz)")

    repaired = agentic("up", env={"MIGRATE_REPAIR_TRACKING": "1"})

    assert repaired.code == 0, repaired.stderr
    event = repaired.log_lines("MIGRATION_TRACKING_REPAIRED")
    assert event and "versions=303,304" in event[0]
    applied = [line.split("version=")[1].split()[0] for line in repaired.log_lines("MIGRATION_APPLIED")]
    assert applied == ["0303", "0304"]
    assert _tables(db, "chat_message_feedback") == ["chat_message_feedback"]
    assert agentic("verify").code == 0

    still_on = agentic("up", env={"MIGRATE_REPAIR_TRACKING": "1"})
    assert still_on.code == 0
    warning = still_on.log_lines("REPAIR_TRACKING_LEFT_ON")
    assert warning and "WARNING" in warning[0] and "set it back to false" in warning[0]


def test_missing_objects_of_a_middle_migration_are_non_contiguous_and_never_repaired(agentic, db):
    db.execute("ALTER TABLE workflow_runs DROP CONSTRAINT workflow_runs_automation_id_fkey")
    before = db.execute("SELECT count(*) FROM agentic_migrations").fetchone()

    for env in (None, {"MIGRATE_REPAIR_TRACKING": "1"}):
        run = agentic("up", env=env)

        assert run.code == 6
        assert run.stderr.startswith(FATAL)
        assert "MIGRATE_REPAIR_TRACKING=1 to rewind" not in run.stderr
        assert "non-contiguous" in run.stderr and "contact support" in run.stderr
    assert db.execute("SELECT count(*) FROM agentic_migrations").fetchone() == before


def test_half_of_one_migrations_objects_missing_is_partial_and_refused(agentic, db):
    db.execute("DROP TABLE automation_schedules")

    run = agentic("up", env={"MIGRATE_REPAIR_TRACKING": "1"})

    assert run.code == 6
    assert "0103 (0103_create_automations.sql): partial; missing table public.automation_schedules" in run.stderr
    assert "still present table public.automations" in run.stderr
    assert "The state is partial, so the auto-repair refuses to run by design" in run.stderr


def test_a_tail_that_changed_rows_of_a_surviving_table_is_not_offered_a_repair(migrations, migrate, db):
    migrations.write("0001_create.sql", "CREATE TABLE organisations (id int PRIMARY KEY, plan text);")
    migrations.write(
        "0002_plans.sql",
        "CREATE TABLE plans (name text PRIMARY KEY);\nUPDATE organisations SET plan = 'free' WHERE plan IS NULL;",
    )
    assert migrate("up").code == 0
    db.execute("DROP TABLE plans")

    run = migrate("up", env={"MIGRATE_REPAIR_TRACKING": "1"})

    assert run.code == 6
    assert "wrote to rows of table public.organisations, which still exists" in run.stderr
    assert "rewind tracking from" not in run.stderr


def test_objects_created_by_a_do_block_are_recorded_and_checked(migrations, migrate, db):
    migrations.write("0001_create.sql", "CREATE TABLE organisations (id int PRIMARY KEY);")
    migrations.write(
        "0002_dynamic.sql",
        "DO $$ BEGIN EXECUTE format('CREATE TABLE %I (id int)', 'audit_' || 'trail'); END $$;",
    )
    assert migrate("up").code == 0
    assert migrate("verify").code == 0
    db.execute("DROP TABLE audit_trail")

    run = migrate("up")

    assert run.code == 6
    assert "table public.audit_trail" in run.stderr
    assert "Re-run with MIGRATE_REPAIR_TRACKING=1 to rewind tracking from 0002 (0002_dynamic.sql)." in run.stderr


@pytest.mark.parametrize(
    "last_statement",
    [
        "SELECT setval('audit_trail_id_seq', 10) -- ids start above 10",
        "DO $$ BEGIN EXECUTE 'DEALLOCATE ALL'; END $$",
        "DEALLOCATE ALL;",
    ],
    ids=["returns rows and ends in a comment", "deallocates in a DO block", "deallocates"],
)
def test_objects_of_a_migration_are_recorded_whatever_its_last_statement(migrations, migrate, db, last_statement):
    migrations.write("0001_create.sql", "CREATE TABLE organisations (id int PRIMARY KEY);")
    migrations.write("0002_trail.sql", f"CREATE TABLE audit_trail (id serial PRIMARY KEY);\n{last_statement}")
    assert migrate("up").code == 0
    assert migrate("verify").code == 0
    db.execute("DROP TABLE audit_trail")

    run = migrate("up")

    assert run.code == 6
    assert "table public.audit_trail" in run.stderr


def test_skipped_migrations_take_no_part_in_the_check(migrations, migrate, db):
    migrations.write("0001_create.sql", "CREATE TABLE organisations (id int PRIMARY KEY);")
    migrations.write("0002_never.sql", "CREATE TABLE never_created (id int);")
    assert migrate("up").code == 0
    db.execute("DROP TABLE never_created")
    db.execute("UPDATE platform_migrations SET status = 'skipped' WHERE version = 2")

    assert migrate("up").code == 0
    assert migrate("verify").code == 0


def test_support_rebaselines_an_inspected_partial_desync_and_it_is_audited(migrations, migrate, db):
    migrations.write(
        "0001_create.sql", "CREATE TABLE orgs (id int PRIMARY KEY, slug text);\nCREATE INDEX orgs_slug ON orgs (slug);"
    )
    assert migrate("up").code == 0
    db.execute("DROP INDEX orgs_slug")
    assert migrate("up").code == 6

    done = migrate("tracking rebaseline", "--version", "1", "--reason", "ticket 7: the DBA dropped the index")

    assert done.code == 0, done.stderr
    assert migrate("up").code == 0
    event = db.execute(
        "SELECT reason FROM platform_migrations_audit WHERE event = 'MIGRATION_TRACKING_REBASELINED'"
    ).fetchone()
    assert event == ("ticket 7: the DBA dropped the index",)


def test_up_never_suggests_a_rebaseline(migrations, migrate, db):
    migrations.write(
        "0001_create.sql", "CREATE TABLE orgs (id int PRIMARY KEY, slug text);\nCREATE INDEX orgs_slug ON orgs (slug);"
    )
    assert migrate("up").code == 0
    db.execute("DROP INDEX orgs_slug")

    run = migrate("up")

    assert run.code == 6 and "rebaseline" not in run.stderr
    assert "contact support" in run.stderr
