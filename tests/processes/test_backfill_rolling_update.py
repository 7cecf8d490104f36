"""The reference backfill (users_email_domain, keyed on a uuid) under a rolling update.

Release 1 of the platform is applied and has users; release 2 adds users.email_domain and
registers its backfill; pods of release 1 keep inserting users and changing emails without the
column while the worker runs; then release 3, which requires the backfill, applies, and its
NOT VALID check validates: every row is right.
"""

from __future__ import annotations

import shutil
import subprocess
import threading
from pathlib import Path

import psycopg

from tests.fixtures.cli import clean_env, command

REFERENCE = Path(__file__).resolve().parents[2] / "migrations" / "platform"
USERS = 5_000
WRONG = "SELECT count(*) FROM users WHERE email_domain IS DISTINCT FROM lower(split_part(email, '@', 2))"


def _release(migrations, number: int) -> None:
    for path in sorted(REFERENCE.glob(f"0{number}*.sql")):
        shutil.copy(path, migrations.path / path.name)


class _OldReleasePods:
    """Writers of release 1: they insert users and change emails, and know nothing of email_domain."""

    def __init__(self, db_url: str) -> None:
        self.db_url = db_url
        self.stop = threading.Event()
        self.writes = 0
        self.errors: list[str] = []
        self.threads = [threading.Thread(target=self._write, args=(n,)) for n in range(2)]

    def _write(self, pod: int) -> None:
        with psycopg.connect(self.db_url, autocommit=True) as conn:
            n = 0
            while not self.stop.is_set():
                n += 1
                try:
                    conn.execute(
                        "INSERT INTO users (email, full_name) VALUES (%s, 'old pod')",
                        (f"old{pod}-{n}@Old{n % 5}.Example",),
                    )
                    conn.execute(
                        "UPDATE users SET email = %s WHERE id = (SELECT id FROM users TABLESAMPLE SYSTEM (5) LIMIT 1)",
                        (f"moved{pod}-{n}@Moved{n % 3}.Example",),
                    )
                    self.writes += 2
                except psycopg.Error as exc:
                    self.errors.append(str(exc))

    def __enter__(self) -> _OldReleasePods:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join()


def test_the_reference_backfill_is_right_under_old_release_writers_and_the_release_requiring_it_applies(
    migrations, migrate, db, db_url
):
    _release(migrations, 1)
    assert migrate("up").code == 0
    db.execute(
        "INSERT INTO users (email, full_name) SELECT 'user' || g || '@Example' || g %% 7 || '.COM', 'u' || g"
        " FROM generate_series(1, %s) g",
        (USERS,),
    )
    _release(migrations, 2)
    assert migrate("up").code == 0
    db.execute("UPDATE platform_migrations_backfills SET batch_size = 100, max_batch_size = 100, pause_ms = 20")

    with _OldReleasePods(db_url) as pods:
        worker = subprocess.run(
            command(
                "backfill",
                "run",
                "--service",
                "platform",
                "--database-url",
                db_url,
                "--migrations-dir",
                str(migrations.path),
            ),
            capture_output=True,
            text=True,
            env=clean_env(),
            timeout=300,
            check=False,
        )
        _release(migrations, 3)
        early = db.execute(WRONG).fetchone()
    assert worker.returncode == 0, worker.stderr
    assert "Traceback" not in worker.stderr
    assert pods.writes > 0 and pods.errors == []
    assert early == (0,), "rows the old release wrote during the backfill are right too"

    applied = migrate("up", "--json")

    assert applied.code == 0, applied.stderr
    assert "0303_require_users_email_domain.sql" in {a["file"] for a in applied.json()[0]["applied_now"]}
    db.execute("ALTER TABLE users VALIDATE CONSTRAINT users_email_domain_present")
    assert db.execute(WRONG).fetchone() == (0,)
    assert db.execute(
        "SELECT count(*) FROM pg_trigger WHERE tgname = 'users_email_domain_backfill_fill'"
    ).fetchone() == (0,), "the adoption trigger is gone once the release requiring the backfill applied"
    events = [
        r[0]
        for r in db.execute(
            "SELECT event FROM platform_migrations_audit WHERE event LIKE 'MIGRATION_BACKFILL_%' ORDER BY id"
        )
    ]
    assert events[0] == "MIGRATION_BACKFILL_REGISTERED" and events[-1] == "MIGRATION_BACKFILL_ADOPTED"
    assert "MIGRATION_BACKFILL_COMPLETED" in events


def test_the_release_requiring_the_backfill_is_refused_until_it_completed(migrations, migrate, db):
    _release(migrations, 1)
    assert migrate("up").code == 0
    db.execute("INSERT INTO users (email) SELECT 'user' || g || '@example.com' FROM generate_series(1, 50) g")
    _release(migrations, 2)
    _release(migrations, 3)

    refused = migrate("up")

    assert refused.code == 6
    assert "requires backfill 'users_email_domain', which is pending" in refused.stderr
    assert migrate("backfill run").code == 0
    assert migrate("up").code == 0
    assert db.execute(WRONG).fetchone() == (0,)
