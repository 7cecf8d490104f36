"""With no database configured, commands use the embedded PostgreSQL and keep its data for the next run."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from scrydon_migrate import embedded
from tests.fixtures.cli import run_cli

REPO = Path(__file__).resolve().parents[2]
REFERENCE_TOTAL = sum(
    len(list((REPO / "migrations" / s).glob("*.sql")))
    for s in ("platform", "agentic", "analytics", "ontology", "cortex")
)


@pytest.fixture
def project(tmp_path):
    """A project folder holding the reference migrations; its embedded data removed afterwards."""
    shutil.copytree(REPO / "migrations", tmp_path / "migrations")
    yield tmp_path
    data_dir = embedded.data_dir_for(tmp_path / ".scrydon-migrate")
    embedded.stop(data_dir)
    shutil.rmtree(data_dir.parent, ignore_errors=True)


def test_up_without_a_url_applies_every_reference_migration_on_the_embedded_postgres(project):
    first = run_cli("up", "--json", cwd=project)

    assert first.code == 0, first.stderr
    results = {r["service"]: r for r in first.json()}
    assert set(results) == {"platform", "agentic", "analytics", "ontology", "cortex"}
    assert sum(len(r["applied_now"]) for r in results.values()) == REFERENCE_TOTAL

    again = run_cli("up", "--json", cwd=project)
    assert again.code == 0, again.stderr
    assert all(r["applied_now"] == [] for r in again.json()), "the data was kept: the second run is a no-op"


def test_status_and_history_work_right_after_up(project):
    assert run_cli("up", cwd=project).code == 0

    status = run_cli("status", "--json", cwd=project)
    history = run_cli("history", "--service", "auth", "--limit", "5", cwd=project)

    assert status.code == 0 and history.code == 0
    assert all(s["counts"] == {"applied": s["counts"]["applied"]} for s in status.json())
    assert history.stdout.startswith("platform (platform_migrations)")
    assert len(history.stdout.strip().splitlines()) == 3 + 5


def test_embedded_start_url_stop_lets_a_developer_keep_it_running(project):
    started = run_cli("embedded", "start", cwd=project)
    assert started.code == 0, started.stderr
    url = run_cli("embedded", "url", "--service", "platform", cwd=project)
    assert url.code == 0 and url.stdout.strip().endswith("/auth")

    up = run_cli("up", "--service", "platform", cwd=project)
    assert up.code == 0
    assert run_cli("embedded", "url", cwd=project).code == 0, "a server started by `embedded start` stays up"

    assert run_cli("embedded", "stop", cwd=project).code == 0
    stopped = run_cli("embedded", "url", cwd=project)
    assert stopped.code == 4
    assert "not running" in stopped.stderr
