"""A service declared in scrydon-migrate.toml is migrated, tracked and reported like a built-in one."""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.fixtures.cli import run_cli

TOML = """
[[service]]
name = "harbor"
tracking_table = "harbor_schema_history"
aliases = ["registry"]
owns = "projects, repositories, artifacts"
"""


def _project(tmp_path: Path) -> Path:
    (tmp_path / "scrydon-migrate.toml").write_text(TOML, encoding="utf-8")
    folder = tmp_path / "migrations" / "harbor"
    folder.mkdir(parents=True)
    (folder / "0001_projects.sql").write_text("CREATE TABLE projects (id bigint PRIMARY KEY, name text);")
    return tmp_path


def test_up_applies_a_declared_service_from_its_url_variable_into_its_tracking_table(tmp_path, db_url, db):
    project = _project(tmp_path)

    done = run_cli("up", env={"HARBOR_DATABASE_URL": db_url}, cwd=project)

    assert done.code == 0, done.stderr
    assert "service=harbor" in done.log_lines("MIGRATION_APPLIED")[0]
    assert db.execute("SELECT version, status FROM harbor_schema_history").fetchall() == [(1, "applied")]


def test_status_lists_the_declared_service_by_its_alias(tmp_path, db_url):
    project = _project(tmp_path)

    shown = run_cli("status", "--service", "registry", "--json", env={"REGISTRY_DATABASE_URL": db_url}, cwd=project)

    assert shown.code == 0, shown.stderr
    [service] = shown.json()
    assert (service["service"], service["tracking_table"]) == ("harbor", "harbor_schema_history")
    assert [m["status"] for m in service["migrations"]] == ["pending"]


def test_a_built_in_service_name_is_refused_when_services_are_declared(tmp_path, db_url):
    project = _project(tmp_path)

    refused = run_cli("up", "--service", "platform", "--database-url", db_url, cwd=project)

    assert refused.code == 3
    assert "unknown service 'platform'" in refused.stderr
    assert "harbor" in refused.stderr


def test_without_a_url_a_declared_service_gets_its_own_database_on_the_embedded_postgres(tmp_path):
    from scrydon_migrate import embedded

    project = _project(tmp_path)
    toml = project / "scrydon-migrate.toml"
    toml.write_text(TOML.replace('name = "harbor"', 'name = "harbor"\ndatabase = "registry"'), encoding="utf-8")
    try:
        assert run_cli("embedded", "start", cwd=project).code == 0
        applied = run_cli("up", cwd=project)
        url = run_cli("embedded", "url", "--service", "registry", cwd=project)
    finally:
        data_dir = embedded.data_dir_for(project / ".scrydon-migrate")
        embedded.stop(data_dir)
        shutil.rmtree(data_dir.parent, ignore_errors=True)

    assert applied.code == 0, applied.stderr
    assert url.code == 0 and url.stdout.strip().endswith("/registry")
