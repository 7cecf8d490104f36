"""Shapes found in real migration histories written for other tools (golang-migrate, goose, Flyway).

Each one was met running a public project's history through `up`: they must apply, be a no-op
the second time, and pass the desync check.
"""

from __future__ import annotations

import pytest

from tests.fixtures.cli import run_cli


def _applies_then_no_op_then_verifies(migrate):
    first = migrate("up")
    assert first.code == 0, first.stderr
    second = migrate("up")
    assert second.code == 0, second.stderr
    assert not second.log_lines("MIGRATION_APPLIED")
    verified = migrate("verify")
    assert verified.code == 0, verified.stdout
    return first


def test_a_comment_only_placeholder_is_applied_as_a_no_op(migrations, migrate, db):
    migrations.write("000080_create_t.up.sql", "CREATE TABLE t (id int);")
    migrations.write("000081_threads_deleteat.up.sql", "-- This migration has been moved to a later version.\n")
    migrations.write("000082_next.up.sql", "ALTER TABLE t ADD COLUMN note text;")

    first = _applies_then_no_op_then_verifies(migrate)

    assert first.log_lines("MIGRATION_EMPTY")
    assert db.execute("SELECT status FROM platform_migrations WHERE version = 81").fetchone() == ("applied",)


@pytest.mark.parametrize("marker", ["-- +goose", "-- +migrate"])
def test_the_down_section_of_goose_and_sql_migrate_files_is_never_run(migrations, migrate, db, marker):
    migrations.write(
        "00001_users.sql",
        f"{marker} Up\nCREATE TABLE users (id bigint PRIMARY KEY);\n\n{marker} Down\nDROP TABLE users;\n",
    )
    migrations.write("00002_posts.sql", f"{marker} Up\nCREATE TABLE posts (user_id bigint REFERENCES users);\n")

    _applies_then_no_op_then_verifies(migrate)

    assert db.execute("SELECT to_regclass('users'), to_regclass('posts')").fetchone() == ("users", "posts")


def test_if_not_exists_on_a_name_another_table_already_has_is_not_a_desync(migrations, migrate):
    migrations.write(
        "000009_group_teams.up.sql",
        "CREATE TABLE IF NOT EXISTS groupteams (groupid text, schemeadmin boolean);\n"
        "CREATE INDEX IF NOT EXISTS idx_groupteams_schemeadmin ON groupteams (schemeadmin);",
    )
    migrations.write(
        "000010_group_channels.up.sql",
        "CREATE TABLE IF NOT EXISTS groupchannels (groupid text, schemeadmin boolean);\n"
        "CREATE INDEX IF NOT EXISTS idx_groupteams_schemeadmin ON groupchannels (schemeadmin);",
    )

    _applies_then_no_op_then_verifies(migrate)


def test_create_table_if_not_exists_where_a_view_has_the_name_is_not_a_desync(migrations, migrate):
    migrations.write("0001_a.sql", "CREATE TABLE base (id int);\nCREATE VIEW v AS SELECT id FROM base;")
    migrations.write("0002_b.sql", "CREATE TABLE IF NOT EXISTS v (id int);\nCREATE TABLE other (id int);")

    _applies_then_no_op_then_verifies(migrate)


def test_create_table_if_not_exists_of_an_existing_large_table_does_not_exempt_it_from_the_guard(
    migrations, migrate, db
):
    migrations.write("0001_t.sql", "CREATE TABLE t (id bigint PRIMARY KEY, v int);")
    assert migrate("up").code == 0
    db.execute("INSERT INTO t SELECT g, g FROM generate_series(1, 5000) g")
    db.execute("ANALYZE t")
    migrations.write(
        "0002_idempotent.sql",
        "CREATE TABLE IF NOT EXISTS t (id bigint PRIMARY KEY, v int);\nCREATE INDEX t_v_idx ON t (v);",
    )

    run = migrate("up", "--large-table-rows", "1000")

    assert run.code == 6
    assert "rule=require-concurrent-index" in run.stderr


def test_one_service_with_the_root_folder_finds_its_subfolder(tmp_path, db_url, db):
    root = tmp_path / "migrations"
    (root / "platform").mkdir(parents=True)
    (root / "platform" / "0001_t.sql").write_text("CREATE TABLE t (id int);")

    run = run_cli("up", "--service", "platform", "--database-url", db_url, "--migrations-dir", str(root))

    assert run.code == 0, run.stderr
    assert db.execute("SELECT to_regclass('t')").fetchone() == ("t",)


def test_flyway_dotted_versions_are_refused_with_a_renumbering_hint(migrations, migrate):
    migrations.write("V13__a.sql", "CREATE TABLE a (id int);")
    migrations.write("V13.1__b.sql", "CREATE TABLE b (id int);")

    run = migrate("up")

    assert run.code == 3
    assert "V13.1 -> 131" in run.stderr


def test_a_pg_dump_baseline_applies_with_its_restrict_lines_and_its_settings_do_not_leak(migrations, migrate, db):
    """pg_dump since 17.6 and 18 brackets its output with psql's \\restrict and \\unrestrict (nothing to
    the server): a project whose first migration is such a dump applies it as psql would, and the dump's
    session settings (an empty search_path) do not leak into the next migration."""
    dump_settings = (
        "SET statement_timeout = 0;\nSET client_encoding = 'UTF8';\n"
        "SELECT pg_catalog.set_config('search_path', '', false);\nSET check_function_bodies = false;\n"
        "CREATE TABLE public.orgs (id integer NOT NULL);\n"
        "ALTER TABLE ONLY public.orgs ADD CONSTRAINT orgs_pkey PRIMARY KEY (id);\n"
    )
    key = "fG0yQ8Rk2T5xH1uVbN7cLmZ3pWq9sE4aJd6oYiK0"
    migrations.write("20260101000000_structure.sql", f"\\restrict {key}\n" + dump_settings + f"\\unrestrict {key}\n")
    migrations.write("20260102000000_teams.sql", "CREATE TABLE teams (org_id integer REFERENCES orgs);")

    _applies_then_no_op_then_verifies(migrate)
    assert db.execute("SELECT to_regclass('public.teams')").fetchone() == ("teams",)
