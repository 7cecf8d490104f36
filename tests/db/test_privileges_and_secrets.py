"""Least privilege, quoting and secrets: a non-superuser owner migrates, odd names are quoted, no password leaks."""

from __future__ import annotations

import json
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from tests.fixtures.cli import run_cli

PASSWORD = "s3cr3t-Pa55w0rd-xyz"


@pytest.fixture
def owner_url(pg_cluster, db_url, db):
    """The test database owned by a plain LOGIN role (no superuser, no CREATEDB) with a password."""
    role = f"owner_{db_url.rsplit('/', 1)[1]}"[:60]
    with psycopg.connect(pg_cluster.admin_url, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(sql.Identifier(role), sql.Literal(PASSWORD)))
        database = db_url.rsplit("/", 1)[1]
        admin.execute(sql.SQL("ALTER DATABASE {} OWNER TO {}").format(sql.Identifier(database), sql.Identifier(role)))
    db.execute(sql.SQL("ALTER SCHEMA public OWNER TO {}").format(sql.Identifier(role)))
    host = pg_cluster.admin_url.split("@", 1)[1].rsplit("/", 1)[0]
    yield f"postgresql://{role}:{PASSWORD}@{host}/{database}", role
    with psycopg.connect(pg_cluster.admin_url, autocommit=True) as admin:
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(database)))
        admin.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))


def _everything(url: str, folder: Path, tmp_path: Path) -> list:
    base = ("--service", "platform", "--database-url", url, "--migrations-dir", str(folder))
    return [
        run_cli("up", *base),
        run_cli("up", *base, "--json"),
        run_cli("status", *base, "--json"),
        run_cli("status", *base),
        run_cli("history", *base, "--json"),
        run_cli("verify", *base, "--json"),
        run_cli("doctor", *base, "--json"),
        run_cli("audit", *base, "--json"),
        run_cli("config", *base),
        run_cli("snapshot", "create", *base, "--to", str(tmp_path / "snap")),
        run_cli("up", "--service", "platform", "--migrations-dir", str(folder), env={"DATABASE_URL": url}),
    ]


def test_a_non_superuser_owner_migrates_and_no_password_appears_anywhere(owner_url, migrations, tmp_path):
    url, _role = owner_url
    migrations.write("0001_create.sql", "CREATE TABLE organisations (id bigint PRIMARY KEY, name text);")
    migrations.write("0002_index.sql", "CREATE INDEX CONCURRENTLY organisations_name_idx ON organisations (name);")
    migrations.write("0003_broken.sql", "ALTER TABLE nowhere ADD COLUMN x int;")

    runs = _everything(url, migrations.path, tmp_path)

    assert runs[0].code == 5, runs[0].stderr
    written = "".join(r.stdout + r.stderr for r in runs)
    written += "".join(p.read_text(errors="replace") for p in (tmp_path / "snap").glob("*.json"))
    with psycopg.connect(url, autocommit=True) as conn:
        for table in ("platform_migrations", "platform_migrations_audit"):
            rows = conn.execute(sql.SQL("SELECT * FROM {}").format(sql.Identifier(table))).fetchall()
            written += json.dumps(rows, default=str)
        assert conn.execute("SELECT count(*) FROM platform_migrations WHERE status = 'applied'").fetchone() == (2,)
        assert conn.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user").fetchone() == (False,)
    assert PASSWORD not in written
    assert "***" in runs[8].stdout


def test_the_application_role_cannot_rewrite_the_audit_log(owner_url, migrations, pg_cluster):
    url, _role = owner_url
    migrations.write("0001_create.sql", "CREATE TABLE organisations (id bigint PRIMARY KEY);")
    assert (
        run_cli("up", "--service", "platform", "--database-url", url, "--migrations-dir", str(migrations.path)).code
        == 0
    )
    app = f"app_{url.rsplit('/', 1)[1]}"[:60]
    with psycopg.connect(url, autocommit=True) as conn:
        with psycopg.connect(pg_cluster.admin_url, autocommit=True) as admin:
            admin.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(app)))
        conn.execute(sql.SQL("GRANT ALL ON ALL TABLES IN SCHEMA public TO {}").format(sql.Identifier(app)))
    app_url = url.replace(url.split("//", 1)[1].split("@", 1)[0], app)
    try:
        with psycopg.connect(app_url, autocommit=True) as conn:
            for statement in (
                "UPDATE platform_migrations_audit SET reason = 'x'",
                "DELETE FROM platform_migrations_audit",
            ):
                with pytest.raises(psycopg.errors.InsufficientPrivilege):
                    conn.execute(statement)
    finally:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(sql.SQL("REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {}").format(sql.Identifier(app)))
        with psycopg.connect(pg_cluster.admin_url, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(app)))


def test_a_tracking_table_name_with_quotes_and_semicolons_is_quoted_never_executed(migrations, db_url, db, tmp_path):
    migrations.write("0001_create.sql", "CREATE TABLE organisations (id bigint PRIMARY KEY);")
    odd = 'odd"; DROP TABLE organisations; --'
    config = tmp_path / "scrydon-migrate.toml"
    config.write_text(f"[services.platform]\ntracking_table = {json.dumps(odd)}\n")
    base = ("--service", "platform", "--database-url", db_url, "--migrations-dir", str(migrations.path))

    first = run_cli("up", *base, "--config", str(config))
    second = run_cli("up", *base, "--config", str(config))

    assert first.code == 0 and second.code == 0, first.stderr + second.stderr
    assert db.execute("SELECT to_regclass('organisations')").fetchone() == ("organisations",)
    assert db.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(odd))).fetchone() == (1,)
