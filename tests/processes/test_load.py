"""Load: many concurrent `up` processes across the five services on one server, repeated.

No deadlock, no double apply, every process exits 0, within a bounded time.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from tests.fixtures.cli import clean_env, command

REPO = Path(__file__).resolve().parents[2]
SERVICES = ("platform", "agentic", "analytics", "ontology", "cortex")


def _storm(pg_cluster, tmp_path, processes_per_service: int, rounds: int) -> None:
    folder = tmp_path / "migrations"
    shutil.copytree(REPO / "migrations", folder)
    for round_number in range(rounds):
        databases = {s: f"load_{s}_{round_number}_{tmp_path.name[-10:]}".lower() for s in SERVICES}
        with psycopg.connect(pg_cluster.admin_url, autocommit=True) as admin:
            for name in databases.values():
                admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        try:
            started = time.monotonic()
            pods = [
                subprocess.Popen(
                    command(
                        "up",
                        "--service",
                        service,
                        "--database-url",
                        pg_cluster.url(databases[service]),
                        "--migrations-dir",
                        str(folder / service),
                        "-q",
                    ),
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.PIPE,
                    text=True,
                    env=clean_env(),
                )
                for service in SERVICES
                for _ in range(processes_per_service)
            ]
            results = [(pod.wait(timeout=300), pod.communicate()[1]) for pod in pods]
            assert [code for code, _ in results] == [0] * len(pods), [err[-300:] for _, err in results if err]
            assert time.monotonic() - started < 240
            for service, name in databases.items():
                with psycopg.connect(pg_cluster.url(name), autocommit=True) as conn:
                    applied = conn.execute(
                        sql.SQL("SELECT version, count(*) FROM {} WHERE event = 'MIGRATION_APPLIED' GROUP BY 1").format(
                            sql.Identifier(f"{service}_migrations_audit")
                        )
                    ).fetchall()
                files = len(list((folder / service).glob("*.sql")))
                assert len(applied) == files and all(count == 1 for _, count in applied), (service, applied)
        finally:
            with psycopg.connect(pg_cluster.admin_url, autocommit=True) as admin:
                for name in databases.values():
                    admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def test_twenty_processes_across_five_services_apply_everything_once(pg_cluster, tmp_path):
    _storm(pg_cluster, tmp_path, processes_per_service=4, rounds=1)


@pytest.mark.slow
def test_fifty_processes_across_five_services_repeated_apply_everything_once(pg_cluster, tmp_path):
    _storm(pg_cluster, tmp_path, processes_per_service=10, rounds=3)
