"""A rolling update: every pod runs `up` at once; the first applies, the rest wait and skip."""

from __future__ import annotations

import subprocess

from tests.fixtures.cli import clean_env, command

PODS = 10


def _start_pods(db_url, folder, count, *extra):
    args = command("up", "--service", "platform", "--database-url", db_url, "--migrations-dir", str(folder), *extra)
    return [
        subprocess.Popen(
            args,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=clean_env({"MIGRATE_APPLICATION_NAME": f"api-platform-pod-{n}"}),
        )
        for n in range(count)
    ]


def test_ten_pods_at_once_apply_each_migration_exactly_once_and_all_exit_zero(migrations, db_url, db):
    migrations.write("0001_create.sql", "CREATE TABLE organisations (id bigint PRIMARY KEY, name text);")
    migrations.write("0002_slow.sql", "ALTER TABLE organisations ADD COLUMN region text NULL;\nSELECT pg_sleep(1.5);")
    for version in range(3, 21):
        migrations.write(f"{version:04d}_table_{version}.sql", f"CREATE TABLE t{version} (id int);")

    pods = _start_pods(db_url, migrations.path, PODS)
    outcomes = [(pod.returncode, pod.communicate(timeout=120)[1]) for pod in pods]
    outcomes = [(pod.returncode, err) for pod, (_, err) in zip(pods, outcomes, strict=True)]

    assert [code for code, _ in outcomes] == [0] * PODS, [err for _, err in outcomes]
    applied = [line for _, err in outcomes for line in err.splitlines() if "event=MIGRATION_APPLIED" in line]
    versions = sorted(line.split("version=")[1].split()[0] for line in applied)
    assert versions == [f"{v:04d}" for v in range(1, 21)], "each migration applied exactly once"
    assert db.execute("SELECT count(*) FROM platform_migrations WHERE status = 'applied'").fetchone() == (20,)
    appliers = [err for _, err in outcomes if "event=MIGRATION_APPLIED" in err]
    assert len(appliers) == 1, "one pod applies, the others skip"
    waiters = [err for _, err in outcomes if "event=LOCK_WAITING" in err]
    assert waiters, "pods that started during the slow migration waited for the lock"
    for err in waiters:
        line = next(line for line in err.splitlines() if "event=LOCK_WAITING" in line)
        assert "holder_pid=" in line and "holder_application_name=api-platform-pod-" in line
        assert "holder_since=" in line
        assert "another run applied the pending migrations" in err
