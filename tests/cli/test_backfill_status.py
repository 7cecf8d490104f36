"""`backfill status` for people (a bar per backfill on a terminal) and machines (--json);
the text audit log shows the backfill's progress."""

from __future__ import annotations

import os
import pty
import subprocess

from tests.fixtures.cli import clean_env, command

DECLARE = """ALTER TABLE items ADD COLUMN doubled int NULL;
-- migrate:backfill items_doubled table=items key=id
UPDATE items SET doubled = v * 2 WHERE id BETWEEN $1 AND $2;
"""


def _filled(migrations, migrate, db):
    migrations.write("0001_items.sql", "CREATE TABLE items (id bigint PRIMARY KEY, v int NOT NULL);")
    assert migrate("up").code == 0
    db.execute("INSERT INTO items SELECT g, g FROM generate_series(1, 2000) g")
    migrations.write("0002_doubled.sql", DECLARE)
    assert migrate("up").code == 0
    assert migrate("backfill run").code == 0


def _on_a_terminal(*args: str) -> str:
    """Run the command with its stdout on a pseudo-terminal, as an operator's shell would."""
    leader, follower = pty.openpty()
    process = subprocess.Popen(
        command(*args), stdout=follower, stderr=subprocess.PIPE, env=clean_env({"COLUMNS": "160"})
    )
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    process.communicate(timeout=60)
    os.close(leader)
    return b"".join(chunks).decode(errors="replace")


def test_status_on_a_terminal_draws_a_bar_per_backfill_with_rate_and_eta(migrations, migrate, db, db_url):
    _filled(migrations, migrate, db)

    shown = _on_a_terminal(
        "backfill",
        "status",
        "--service",
        "platform",
        "--database-url",
        db_url,
        "--migrations-dir",
        str(migrations.path),
    )

    assert "items_doubled" in shown and "completed" in shown and "100.0%" in shown
    assert "━" in shown, "a progress bar"
    assert "rows/s" in shown


def test_status_json_is_for_machines(migrations, migrate, db):
    _filled(migrations, migrate, db)

    status = migrate("backfill status", "--json")

    entry = status.json()[0]["backfills"][0]
    assert entry["state"] == "completed" and entry["rows_done"] == 2000 and entry["percent"] == 100.0
    assert {"stalled_since", "last_batch_at", "workers", "rate_rows_per_s", "eta_s", "throttled"} <= set(entry)


def test_the_text_audit_log_shows_the_backfill_progress(migrations, migrate, db):
    _filled(migrations, migrate, db)

    audit = migrate("audit", "--event", "MIGRATION_BACKFILL_*")

    completed = next(line for line in audit.stdout.splitlines() if "MIGRATION_BACKFILL_COMPLETED" in line)
    assert "backfill=items_doubled percent=100.0 keys_done=2000 keys_total=2000 rows_done=2000" in completed
    started = next(line for line in audit.stdout.splitlines() if "MIGRATION_BACKFILL_STARTED" in line)
    assert "slices=" in started
