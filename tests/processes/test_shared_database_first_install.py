"""First install of several services sharing one database, every pod at once: no race on the shared functions.

Each service has its own tracking and audit tables but the trigger functions the tool installs
are shared by every service of the database; their creation is serialised by a transaction
lock, so concurrent first installs never fail on ``CREATE OR REPLACE FUNCTION``.
"""

from __future__ import annotations

import subprocess

import pytest

from tests.fixtures.cli import clean_env, command

SERVICES = ("platform", "agentic", "analytics", "ontology", "cortex")


def _first_install(db_url, tmp_path, pods_per_service):
    root = tmp_path / "migrations"
    for service in SERVICES:
        folder = root / service
        folder.mkdir(parents=True)
        (folder / "0001_create.sql").write_text(f"CREATE TABLE {service}_things (id bigint PRIMARY KEY);")
    pods = [
        subprocess.Popen(
            command("up", "--service", service, "--database-url", db_url, "--migrations-dir", str(root / service)),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=clean_env(),
        )
        for _ in range(pods_per_service)
        for service in SERVICES
    ]
    return [(pod.wait(timeout=300), pod.communicate()[1]) for pod in pods]


def _assert_installed_once(outcomes, db):
    assert [code for code, _ in outcomes] == [0] * len(outcomes), [err for code, err in outcomes if code]
    for service in SERVICES:
        applied = db.execute(f"SELECT count(*) FROM {service}_migrations WHERE status = 'applied'").fetchone()
        assert applied == (1,)
        assert db.execute(f"SELECT count(*) FROM {service}_migrations_audit").fetchone() == (1,)


def test_five_services_installing_into_one_database_at_once_all_succeed(db_url, db, tmp_path):
    _assert_installed_once(_first_install(db_url, tmp_path, pods_per_service=3), db)


@pytest.mark.slow
def test_five_services_times_sixteen_pods_into_one_database_all_succeed(db_url, db, tmp_path):
    _assert_installed_once(_first_install(db_url, tmp_path, pods_per_service=16), db)
