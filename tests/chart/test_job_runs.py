"""The rendered Jobs, run for real: their command, arguments and environment, against a real PostgreSQL.

The kubelet's part is played here: the Secret's database URL becomes the test database's URL, the pod
name comes from metadata.name, and the image's entrypoint script `scrydon-migrate` is
`python -m scrydon_migrate`. The image's WORKDIR /app with /app/migrations is a folder holding a copy of
the repository's migrations/, so the default --migrations-dir is used exactly as in the image.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from scrydon_migrate.config import find_service
from tests.chart.rendering import REPO, VALUES_KEYS, container, expand, kubelet_env, render
from tests.fixtures.cli import Run, clean_env

FATAL_DESYNC = "[migrate-bootstrap] FATAL: the migration tracking table is out of sync with the actual database schema"


@pytest.fixture
def app_dir(tmp_path: Path) -> Path:
    """The image's /app: the reference migrations under migrations/<service>/."""
    app = tmp_path / "app"
    shutil.copytree(REPO / "migrations", app / "migrations")
    (tmp_path / "tmp").mkdir()
    return app


def _process(ctr: dict[str, Any], db_url: str, app: Path, pod_name: str) -> tuple[list[str], dict[str, str]]:
    """The container's argv and environment, as the kubelet would start it from the rendered manifest."""
    secrets = {}
    for item in ctr["env"]:
        ref = item.get("valueFrom", {}).get("secretKeyRef")
        if ref:
            assert item["name"].endswith("_DATABASE_URL")
            secrets[(ref["name"], ref["key"])] = db_url
    env = kubelet_env(ctr, secrets=secrets, pod_name=pod_name)
    assert ctr["command"] == ["scrydon-migrate"]  # the image's console script
    argv = [sys.executable, "-m", "scrydon_migrate", *(expand(a, env) for a in ctr["args"])]
    # The image's ENV (deploy/docker/Dockerfile): HOME and TMPDIR on the /tmp emptyDir, no bytecode written.
    tmp = str(app.parent / "tmp")
    image_env = {"HOME": tmp, "TMPDIR": tmp, "PYTHONDONTWRITEBYTECODE": "1", "HOSTNAME": pod_name}
    return argv, clean_env({**image_env, **env})


def _run_job(job: dict[str, Any], db_url: str, app: Path) -> Run:
    argv, env = _process(container(job), db_url, app, pod_name=job["metadata"]["name"] + "-x7k2p")
    before = sorted(p.relative_to(app) for p in app.rglob("*"))
    done = subprocess.run(argv, env=env, cwd=app, capture_output=True, text=True, timeout=180, check=False)
    # Read-only root filesystem: the run writes nothing next to the migrations (/app in the image).
    assert sorted(p.relative_to(app) for p in app.rglob("*")) == before
    return Run(done.returncode, done.stdout, done.stderr)


def _applied(db, service: str) -> list[int]:
    rows = db.execute(f"SELECT version FROM {service}_migrations WHERE status = 'applied' ORDER BY version")
    return [r[0] for r in rows.fetchall()]


def _files(service: str) -> list[int]:
    return sorted(int(p.name.split("_", 1)[0]) for p in (REPO / "migrations" / service).glob("*.sql"))


@pytest.mark.parametrize("key", VALUES_KEYS)
def test_rendered_job_migrates_a_fresh_database_then_is_a_no_op(helm, key, db_url, db, app_dir):
    service = find_service(key).name
    job = render(helm).job(service)

    first = _run_job(job, db_url, app_dir)

    assert first.code == 0, first.stderr
    assert _applied(db, service) == _files(service)
    assert len(first.log_lines("MIGRATION_APPLIED")) == len(_files(service))
    assert first.stderr.startswith("[migrate-bootstrap] ")  # MIGRATE_LOG_FORMAT=text: the runbook's lines

    again = _run_job(job, db_url, app_dir)

    assert again.code == 0, again.stderr
    assert again.log_lines("MIGRATION_APPLIED") == []
    assert again.log_lines("MIGRATIONS_UP_TO_DATE")
    assert _applied(db, service) == _files(service)


def test_repair_tracking_job_repairs_a_repairable_desync(helm, db_url, db, app_dir):
    """tests/db/test_desync.py's case: the objects of agentic's last two migrations are dropped."""
    plain = render(helm).job("agentic")
    repair = render(helm, {"agentic": {"migration": {"repairTracking": True}}}).job("agentic")
    assert _run_job(plain, db_url, app_dir).code == 0
    db.execute("DROP TABLE chat_message_feedback")
    db.execute("DROP FUNCTION workflow_run_stats(uuid, timestamptz)")

    refused = _run_job(plain, db_url, app_dir)

    assert refused.code == 6  # REFUSED: podFailurePolicy fails the Job at once, no blind retry
    assert refused.stderr.startswith(FATAL_DESYNC)
    assert "Re-run with MIGRATE_REPAIR_TRACKING=1 to rewind tracking from 0303" in refused.stderr

    repaired = _run_job(repair, db_url, app_dir)

    assert repaired.code == 0, repaired.stderr
    assert repaired.log_lines("MIGRATION_TRACKING_REPAIRED")
    assert db.execute("SELECT to_regclass('chat_message_feedback')::text").fetchone() == ("chat_message_feedback",)
    assert db.execute("SELECT to_regprocedure('workflow_run_stats(uuid, timestamptz)') IS NOT NULL").fetchone() == (
        True,
    )
    assert _applied(db, "agentic") == _files("agentic")

    # The reminder of the NOTES, from the Job itself while the flag stays on; off again, all is quiet.
    left_on = _run_job(repair, db_url, app_dir)
    assert left_on.code == 0 and left_on.log_lines("REPAIR_TRACKING_LEFT_ON")
    back_off = _run_job(plain, db_url, app_dir)
    assert back_off.code == 0 and back_off.log_lines("REPAIR_TRACKING_LEFT_ON") == []


def test_startup_init_container_and_job_share_the_work(helm, db_url, db, app_dir):
    """A service pod's init container (the start-up patch) and the hook Job: whichever runs first applies."""
    rendered = render(helm, {"apiOntology": {"startup": {"enabled": True}}})
    init = rendered.startup_patch("ontology")["spec"]["template"]["spec"]["initContainers"][0]
    argv, env = _process(init, db_url, app_dir, pod_name="api-ontology-6d9f7-abcde")

    started = subprocess.run(argv, env=env, cwd=app_dir, capture_output=True, text=True, timeout=180, check=False)

    assert started.returncode == 0, started.stderr
    assert _applied(db, "ontology") == _files("ontology")
    job = _run_job(rendered.job("ontology"), db_url, app_dir)
    assert job.code == 0 and job.log_lines("MIGRATION_APPLIED") == []


def test_backfill_worker_runs_before_the_schema_exists(helm, db_url, db, app_dir):
    """The backfill Deployment's pod starts on an empty database (a fresh install, before the post-install
    hooks) and keeps running: it connects under its pod name and idles, so it never blocks `--wait`."""
    deployment = render(helm, {"auth": {"backfill": {"enabled": True}}}).deployment("platform")
    pod_name = "scrydon-backfill-platform-5c8d-q2w3e"
    argv, env = _process(container(deployment), db_url, app_dir, pod_name=pod_name)
    worker = subprocess.Popen(argv, env=env, cwd=app_dir, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        connected = False
        while time.monotonic() < deadline and worker.poll() is None and not connected:
            connected = db.execute(
                "SELECT count(*) > 0 FROM pg_stat_activity WHERE application_name = %s", (pod_name,)
            ).fetchone()[0]
            time.sleep(0.2)
        assert connected, "the worker never connected under its pod name (MIGRATE_APPLICATION_NAME)"
        time.sleep(1.5)
        assert worker.poll() is None, worker.communicate()
    finally:
        worker.terminate()
        try:
            worker.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.communicate()
