"""A role that may not create or write the tool's own tables gets a clear error (exit 3), and nothing is written."""

from __future__ import annotations

import psycopg
import pytest
from psycopg import sql

from tests.fixtures.cli import run_cli


@pytest.fixture
def other_role_url(pg_cluster, db_url, db):
    """A LOGIN role with no CREATE on the test database's public schema."""
    role = f"norole_{db_url.rsplit('/', 1)[1]}"[:60]
    with psycopg.connect(pg_cluster.admin_url, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(role)))
    db.execute("REVOKE CREATE ON SCHEMA public FROM PUBLIC")
    yield db_url.replace("//postgres@", f"//{role}@"), role
    with psycopg.connect(pg_cluster.admin_url, autocommit=True) as admin:
        admin.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(db_url.rsplit("/", 1)[1]))
        )
        admin.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))


def _up(url, folder):
    return run_cli("up", "--service", "platform", "--database-url", url, "--migrations-dir", str(folder))


def test_a_role_without_create_on_the_schema_is_refused_with_exit_3(other_role_url, migrations, db):
    url, role = other_role_url
    migrations.write("0001_create.sql", "CREATE TABLE organisations (id bigint PRIMARY KEY);")

    run = _up(url, migrations.path)

    assert run.code == 3, run.stderr
    assert "Traceback" not in run.stderr
    fatal = run.log_lines("DATABASE_PRIVILEGE_MISSING")
    assert fatal and f"the database role {role!r} of service 'platform'" in fatal[0] and "hint=" in fatal[0]
    tables = db.execute("SELECT count(*) FROM pg_class WHERE relnamespace = 'public'::regnamespace").fetchone()
    assert tables == (0,), "nothing was written"


def test_a_second_service_sharing_the_database_under_another_role_is_refused_with_exit_3(
    other_role_url, migrations, migrate, db
):
    url, _role = other_role_url
    migrations.write("0001_create.sql", "CREATE TABLE organisations (id bigint PRIMARY KEY);")
    assert migrate("up").code == 0
    migrations.write("0002_more.sql", "CREATE TABLE workspaces (id bigint PRIMARY KEY);")

    for command in ("up", "status"):
        run = run_cli(command, "--service", "platform", "--database-url", url, "--migrations-dir", str(migrations.path))
        assert run.code == 3, run.stderr
        assert "Traceback" not in run.stderr and run.log_lines("DATABASE_PRIVILEGE_MISSING")
    assert db.execute("SELECT to_regclass('workspaces')").fetchone() == (None,)
