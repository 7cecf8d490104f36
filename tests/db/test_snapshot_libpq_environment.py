"""`snapshot create` connects as the tool does: pg_dump gets the user's libpq environment (PGSERVICE and friends)."""

from __future__ import annotations

from urllib.parse import urlsplit

from tests.fixtures.cli import run_cli


def test_snapshot_through_a_pg_service_file_named_in_the_environment(migrations, db_url, tmp_path):
    parts = urlsplit(db_url)
    service_file = tmp_path / "pg_service.conf"
    service_file.write_text(
        f"[scrydon_platform]\nhost={parts.hostname}\nport={parts.port}\ndbname={parts.path.lstrip('/')}\n"
        f"user={parts.username}\n"
    )
    env = {"PGSERVICEFILE": str(service_file), "PLATFORM_DATABASE_URL": "service=scrydon_platform"}
    migrations.write("0001_create.sql", "CREATE TABLE organisations (id bigint PRIMARY KEY);")
    base = ("--service", "platform", "--migrations-dir", str(migrations.path))
    assert run_cli("up", *base, env=env).code == 0

    run = run_cli("snapshot", "create", *base, "--to", str(tmp_path / "snap"), env=env)

    assert run.code == 0, run.stderr
    assert (tmp_path / "snap" / "platform.dump").stat().st_size > 0
