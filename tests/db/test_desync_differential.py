"""The desync check against PostgreSQL as the oracle: generated histories, applied for real.

Histories come from ``_histories`` (tables, columns, every constraint kind incl. USING INDEX and
NOT VALID, partial and expression indexes, identity and serial sequences, views, materialized views,
functions with overloads, procedures, triggers, enums, domains, schemas, an extension, partitions,
temp tables, renames and drops of everything, CASCADE, DO blocks that create, drop and write, row
writes, search_path changes, CREATE INDEX CONCURRENTLY in no-transaction files). For each:

* **P1 no false alarm** — after every ``up`` of the cleanly applying history, ``verify`` is healthy
  and the next ``up`` applies nothing.
* **P2 the offer is sound** — whenever a repair is offered for a planted desync, performing it
  succeeds and leaves the schema and the rows, as ``pg_dump`` prints them, equal to a clean apply.
* **P3 the offer is made** — a planted tail of creation-only migrations whose objects are gone is
  always offered the repair.
* **P4 refusals change nothing** — a planted state that is not offered (partial, non-contiguous, a
  tail not proven safe) exits with the desync and leaves the tracking rows and schema as they were.

Desyncs are planted two ways: tail rows copied in from the fully applied database onto one where only
the earlier migrations ran, and tables of one migration dropped by hand.

What a history costs is mostly the server's: every ``up``, ``verify`` and ``pg_dump`` reads the
catalog of a new session. So each history applies its migrations through ``up`` once, in stages (the
first ``up``, the head the tail plant starts from, the rest), and the planted databases are copies
(``CREATE DATABASE ... TEMPLATE``) of that clean apply, taken when it stood at the head and when it was
done; ``pg_dump`` runs only when a repair was performed, once for the clean apply and once for the
repaired database. An empty history (no statement the probe accepted) is not counted as one checked.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import pytest
from bench import desync_corpus as corpus
from hypothesis import HealthCheck, assume, given, seed, settings
from hypothesis import strategies as st
from psycopg import sql

from scrydon_migrate import embedded, source, verify
from scrydon_migrate.errors import ExitCode, TrackingDesync
from tests.db import _histories
from tests.fixtures.cli import run_cli
from tests.fixtures.pg import Cluster

#: Histories per chunk (``MIGRATE_DESYNC_EXAMPLES``). The default run holds the first
#: ``DEFAULT_CHUNKS`` chunks on every major, ``-m slow`` the next ``SLOW_CHUNKS`` (see docs/desync.md).
#: Chunks are separate tests so that xdist spreads them over its workers.
EXAMPLES = int(os.environ.get("MIGRATE_DESYNC_EXAMPLES", "50"))
DEFAULT_CHUNKS = 10
SLOW_CHUNKS = 40
_names = iter(range(10**9))


class _Databases:
    """The databases of one history, made through one admin connection and dropped together."""

    def __init__(self, cluster: Cluster, admin: psycopg.Connection) -> None:
        self.cluster = cluster
        self.admin = admin
        self.made: list[str] = []

    def new(self, template: str = "template0") -> str:
        """A new database, empty or a copy of ``template`` (no session may be connected to it); its URL."""
        name = f"h_{os.getpid()}_{next(_names)}"
        embedded.create_scratch_database(self.admin, name, template)
        self.made.append(name)
        return self.cluster.url(name)

    def copy(self, url: str) -> str:
        """A copy of the database at ``url``: what the ``up`` runs that made it would make again."""
        return self.new(template=url.rsplit("/", 1)[1])

    def drop_all(self) -> None:
        for name in reversed(self.made):
            self.admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        self.made.clear()


@contextmanager
def _databases(cluster: Cluster, admin: psycopg.Connection) -> Iterator[_Databases]:
    made = _Databases(cluster, admin)
    try:
        yield made
    finally:
        made.drop_all()


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


@pytest.mark.parametrize("chunk", range(DEFAULT_CHUNKS), ids=lambda chunk: f"chunk_{chunk}")
def test_generated_histories_hold_p1_to_p4(pg_cluster, tmp_path_factory, chunk):
    _run_histories(pg_cluster, tmp_path_factory, chunk, EXAMPLES)


@pytest.mark.slow
@pytest.mark.parametrize(
    "chunk", range(DEFAULT_CHUNKS, DEFAULT_CHUNKS + SLOW_CHUNKS), ids=lambda chunk: f"chunk_{chunk}"
)
def test_more_generated_histories_hold_p1_to_p4(pg_cluster, tmp_path_factory, chunk):
    _run_histories(pg_cluster, tmp_path_factory, chunk, EXAMPLES)


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
        with _databases(pg_cluster, admin) as databases:
            with psycopg.connect(databases.new(), autocommit=True) as probe:
                migrations = data.draw(_history(probe))
            assume(migrations)
            first = not outcomes
            for outcome in _check_history(databases, data, folder, migrations, through_cli=first):
                outcomes[outcome] = outcomes.get(outcome, 0) + 1

    with psycopg.connect(pg_cluster.admin_url, autocommit=True) as admin:
        check()
    print(f"desync differential ({pg_cluster.version}, chunk {chunk}): {sorted(outcomes.items())}")


def _check_history(
    databases: _Databases,
    data: st.DataObject,
    folder: Path,
    migrations: list[_histories.Migration],
    *,
    through_cli: bool,
) -> list[str]:
    """P1 on a clean apply in stages, then P2-P4 on desyncs planted in copies of it; what happened.

    ``through_cli`` (the first history of each chunk) also runs the command on the planted states, for
    its exit codes; the others call the library, which is what costs the time.
    """
    everything = _write(folder / "all" / "platform", migrations)
    split = data.draw(st.integers(1, len(migrations)), label="first up applies")
    tail = data.draw(st.integers(1, min(3, len(migrations))), label="tail")
    head = len(migrations) - tail
    full = databases.new()
    planted = None
    if head == 0:
        planted = databases.new()
        corpus.up(planted, _write(folder / "head" / "platform", []))
    for stop in sorted({split, head, len(migrations)} - {0}):
        corpus.up(full, _write(folder / f"up{stop}" / "platform", migrations[:stop]))
        result = corpus.verified(full, everything)
        assert result.kind.value == "healthy", f"P1: false alarm after an up to migration {stop}: {result.reasons}"
        if stop == head:
            planted = databases.copy(full)
    assert corpus.up(full, everything) == (), "P1: the next up was not a no-op"
    assert planted is not None

    clean = _Clean(full, corpus.keys(full))
    corpus.copy_tail_rows(full, planted, head + 1)
    must_offer = _histories.creation_only(migrations[head:])
    outcomes = ["tail " + _check_planted(planted, everything, clean, must_offer=must_offer, through_cli=through_cli)]

    victims = [i for i, m in enumerate(migrations) if m.created_tables]
    if victims:
        chosen = data.draw(st.sampled_from(victims), label="tables dropped by hand")
        dropped = databases.copy(full)
        _drop_tables(dropped, migrations[chosen].created_tables)
        outcomes.append("dropped " + _check_planted(dropped, everything, clean, through_cli=through_cli))
    return outcomes


def _drop_tables(url: str, tables: set[str]) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        for table in sorted(tables):
            conn.execute(sql.SQL("DROP TABLE IF EXISTS {} CASCADE").format(sql.Identifier(*table.split("."))))


@dataclass
class _Clean:
    """The clean apply planted desyncs are compared with: its objects, and its dump once a repair needs it."""

    url: str
    keys: set[str]
    dumped: str | None = field(default=None, init=False)

    def dump(self) -> str:
        if self.dumped is None:
            self.dumped = _dump(self.url)
        return self.dumped


def _dump(url: str) -> str:
    """Schema and rows as one pg_dump prints them, the tool's own tables (and its catalog generation) left out.

    One run rather than ``--schema-only`` and ``--data-only`` apart: the same text, for half the catalog reads.
    """
    tool = [str(embedded.bin_dir() / "pg_dump"), "--no-owner", "--no-privileges", "-T", f"{corpus.TABLE}*"]
    printed = subprocess.run(
        [*tool, "-T", "scrydon_migrate_*", "-d", url], capture_output=True, text=True, check=True
    ).stdout
    return corpus.comparable(printed)


def _check_planted(
    url: str, folder: Path, clean: _Clean, *, must_offer: bool = False, through_cli: bool = False
) -> str:
    """A planted desync: an offered repair gives back the clean apply (P2), a creation-only tail is
    offered it (P3), a refusal changes nothing (P4). What happened, for the chunk's summary.

    ``through_cli``: ``verify`` runs as a command first (exit 1 exactly when ``up`` then finds the
    desync) and the repair is the command's ``up`` with ``MIGRATE_REPAIR_TRACKING=1`` (exit 0).
    """
    before = corpus.tracking_rows(url), corpus.keys(url)
    missing = clean.keys - before[1]
    verify_code = _command("verify", url, folder) if through_cli else None
    try:
        corpus.up(url, folder)
    except TrackingDesync as desync:
        assert verify_code in (None, ExitCode.FINDINGS), f"verify exited {verify_code} on a desync that up found"
        kind = desync.fields.get("kind")
        if kind != "repairable":
            assert not (must_offer and missing), (
                f"P3: a creation-only tail was not offered the repair: {desync.details}"
            )
            after = corpus.tracking_rows(url), corpus.keys(url)
            assert after == before, "P4: the refusal changed the tracking rows or the schema"
            return f"refused ({kind}), nothing changed"
        if through_cli:
            assert _command("up", url, folder, repair=True) == ExitCode.OK, "P2: the repairing up did not exit 0"
        else:
            corpus.up(url, folder, repair=True)
        assert _dump(url) == clean.dump(), (
            "P2: the offered repair did not give back the schema and rows of a clean apply"
        )
        assert corpus.verified(url, folder).kind is verify.Kind.HEALTHY, "P2: verify is not healthy after the repair"
        return "offered; the repair gave back the clean apply"
    assert not (must_offer and missing), f"P3: the missing objects {sorted(missing)[:5]} went unnoticed"
    assert verify_code in (None, ExitCode.OK), f"verify exited {verify_code} where up found no desync"
    return "not detected (no recorded object missing)" if missing else "no object missing; nothing to report"


def _command(name: str, url: str, folder: Path, *, repair: bool = False) -> int:
    """``scrydon-migrate <name>`` for the platform service on ``folder``: its exit code."""
    env = {"MIGRATE_REPAIR_TRACKING": "1"} if repair else None
    args = ("--service", "platform", "--database-url", url, "--migrations-dir", str(folder))
    return run_cli(name, *args, env=env).code
