"""The reference Scrydon schemas apply on a fresh database, and a second run is a no-op."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fixtures.cli import run_cli

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("service", ["platform", "agentic", "analytics", "ontology", "cortex"])
def test_reference_migrations_apply_from_scratch_and_again_as_a_no_op(service, db_url, db):
    folder = REPO / "migrations" / service
    args = ("up", "--service", service, "--database-url", db_url, "--migrations-dir", str(folder), "--json")

    first = run_cli(*args)
    second = run_cli(*args)

    assert first.code == 0, first.stderr
    files = sorted(folder.glob("*.sql"))
    assert len(first.json()[0]["applied_now"]) == len(files)
    assert second.code == 0 and second.json()[0]["applied_now"] == []
    assert db.execute("SELECT count(*) FROM pg_index WHERE NOT indisvalid").fetchone() == (0,), (
        "no INVALID index left behind"
    )
