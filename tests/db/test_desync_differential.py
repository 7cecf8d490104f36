"""The desync check against PostgreSQL as the oracle: generated histories, applied for real.

Histories come from ``_histories`` (tables, columns, every constraint kind incl. USING INDEX and
NOT VALID, partial and expression indexes, identity and serial sequences, views, materialized views,
functions with overloads, procedures, triggers, enums, domains, schemas, an extension, partitions,
temp tables, renames and drops of everything, CASCADE, DO blocks that create, drop and write, row
writes, search_path changes, CREATE INDEX CONCURRENTLY in no-transaction files). For each:

* **P1 no false alarm** — after every ``up`` of the cleanly applying history, ``verify`` is healthy
  and the next ``up`` applies nothing.
* **P2 the offer is sound** — whenever a repair is offered for a planted desync, performing it
  succeeds and leaves the schema (``pg_dump --schema-only``) and the rows equal to a clean apply.
* **P3 the offer is made** — a planted tail of creation-only migrations whose objects are gone is
  always offered the repair.
* **P4 refusals change nothing** — a planted state that is not offered (partial, non-contiguous, a
  tail not proven safe) exits with the desync and leaves the tracking rows and schema as they were.

Desyncs are planted two ways: tail rows copied in from the fully applied database onto one where only
the earlier migrations ran, and tables of one migration dropped by hand.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest
from bench import desync_corpus as corpus
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st
from psycopg import sql

from scrydon_migrate import source
from tests.db import _histories

#: Histories per chunk are EXAMPLES // CHUNKS (``MIGRATE_DESYNC_EXAMPLES``). The default run holds the
#: first chunk on every major; ``-m slow`` runs the other 24 chunks on every major (see the README).
EXAMPLES = int(os.environ.get("MIGRATE_DESYNC_EXAMPLES", "500"))
CHUNKS = 5
_databases = iter(range(10**9))


@contextmanager
def _database(cluster) -> Iterator[str]:  # type: ignore[no-untyped-def]
    name = f"h_{os.getpid()}_{next(_databases)}"
    with psycopg.connect(cluster.admin_url, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {} TEMPLATE template0").format(sql.Identifier(name)))
    try:
        yield cluster.url(name)
    finally:
        with psycopg.connect(cluster.admin_url, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def _write(folder: Path, migrations: list[_histories.Migration]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.sql"):
        old.unlink()
    for number, migration in enumerate(migrations, 1):
        (folder / f"{number:04d}_step.sql").write_text(migration.text())
    if not migrations:
        (folder / source.EMPTY_MARKER).touch()
    return folder


@st.composite
def _history(draw: st.DrawFn, probe: psycopg.Connection) -> list[_histories.Migration]:
    _histories.restart_names()
    migrations: list[_histories.Migration] = []
    for _ in range(draw(st.integers(1, 6))):
        if draw(st.integers(0, 9)) == 0:
            concurrent = _histories.concurrent_index(draw, probe)
            if concurrent is not None:
                migrations.append(concurrent)
                continue
        found = _histories.migration(draw, probe)
        if found.statements:
            migrations.append(found)
    return migrations


def test_generated_histories_hold_p1_to_p4(pg_cluster, tmp_path_factory):
    _run_histories(pg_cluster, tmp_path_factory, 0, EXAMPLES // CHUNKS)


@pytest.mark.slow
@pytest.mark.parametrize("chunk", range(1, 5 * CHUNKS))
def test_more_generated_histories_hold_p1_to_p4(pg_cluster, tmp_path_factory, chunk):
    _run_histories(pg_cluster, tmp_path_factory, chunk, EXAMPLES // CHUNKS)


def _run_histories(pg_cluster, tmp_path_factory, chunk: int, examples: int) -> None:  # type: ignore[no-untyped-def]
    outcomes: dict[str, int] = {}

    @seed(chunk)
    @settings(
        max_examples=examples,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
        database=None,
    )
    @given(data=st.data())
    def check(data: st.DataObject) -> None:
        folder = tmp_path_factory.mktemp("history")
        with _database(pg_cluster) as probe_url, psycopg.connect(probe_url, autocommit=True) as probe:
            migrations = data.draw(_history(probe))
        if not migrations:
            return
        everything = _write(folder / "all" / "platform", migrations)
        with _database(pg_cluster) as full:
            split = data.draw(st.integers(1, len(migrations)), label="first up applies")
            corpus.up(full, _write(folder / "first" / "platform", migrations[:split]))
            assert corpus.verified(full, everything).kind.value == "healthy", "P1: false alarm after the first up"
            corpus.up(full, everything)
            result = corpus.verified(full, everything)
            assert result.kind.value == "healthy", f"P1: false alarm after the whole history: {result.reasons}"
            assert corpus.up(full, everything) == (), "P1: the next up was not a no-op"

            tail = data.draw(st.integers(1, min(3, len(migrations))), label="tail")
            head = len(migrations) - tail
            with _database(pg_cluster) as planted:
                corpus.up(planted, _write(folder / "head" / "platform", migrations[:head]))
                corpus.copy_tail_rows(full, planted, head + 1)
                must_offer = _histories.creation_only(migrations[head:])
                outcome = corpus.check_planted(planted, everything, full, must_offer=must_offer)
                outcomes["tail " + outcome] = outcomes.get("tail " + outcome, 0) + 1

            victims = [i for i, m in enumerate(migrations) if m.created_tables]
            if victims:
                chosen = data.draw(st.sampled_from(victims), label="tables dropped by hand")
                with _database(pg_cluster) as planted:
                    corpus.up(planted, everything)
                    with psycopg.connect(planted, autocommit=True) as conn:
                        for table in sorted(migrations[chosen].created_tables):
                            conn.execute(
                                sql.SQL("DROP TABLE IF EXISTS {} CASCADE").format(sql.Identifier(*table.split(".")))
                            )
                    outcome = corpus.check_planted(planted, everything, full)
                    outcomes["dropped " + outcome] = outcomes.get("dropped " + outcome, 0) + 1

    check()
    print(f"desync differential ({pg_cluster.version}, chunk {chunk}): {sorted(outcomes.items())}")
