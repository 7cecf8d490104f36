"""What recording effects from PostgreSQL costs: applying histories before and after.

    python bench/desync_record.py [--baseline-src DIR] [--runs 5] [--sizes 1000] [--realistic 300]

Each run applies a generated history from scratch with one ``up`` process on a fresh database of a
scratch cluster (tmpfs, fsync off), and is timed by wall clock around the process; its CPU time is
measured too, on both sides: the ``up`` process's (user + system, from ``wait4``) and the server's
(the CPU its backends used, which the postmaster accounts for its children once they exit: read from
``/proc`` after the run's backends are gone). The client waits for every reply, so wall time is
about the sum of the two; on a shared machine whose speed changes from minute to minute, the CPU
times are the steadier figure. ``--baseline-src``
is the ``src/`` folder of another checkout (e.g. the release before effects were recorded:
``git worktree add /tmp/before <commit>``); its runs take turns with the current tree's.

Histories: ``small`` is N migrations of the no-op start-up benchmark's cycle (a table, two added
columns, an index, a trigger function); ``realistic`` is a few hundred migrations of the kinds real
histories hold: tables with keys and checks, added columns with defaults, data updates, indexes,
views, functions, triggers, enum values, renames, drops, DO blocks.

Prints one line per history and tree (median, min, max wall seconds; median client and server CPU
seconds) and the ratios; ``--json`` for machines.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from bench.desync_corpus import Scratch, scratch_cluster  # noqa: E402
from bench.noop_startup import migration_sql  # noqa: E402


def small(count: int) -> list[tuple[str, str]]:
    return [migration_sql(v) for v in range(1, count + 1)]


def realistic(count: int) -> list[tuple[str, str]]:
    """A cycle of ten kinds of change over growing tables."""
    out = []
    for v in range(count):
        t = f"acct_{v // 10:04d}"
        kind = v % 10
        body = [
            f"CREATE TABLE {t} (id bigserial PRIMARY KEY, name text NOT NULL CHECK (name <> ''), "
            f"created_at timestamptz NOT NULL DEFAULT now(), status text);\n"
            f"INSERT INTO {t} (name, status) SELECT 'n' || g, 'new' FROM generate_series(1, 50) g;",
            f"ALTER TABLE {t} ADD COLUMN region text NOT NULL DEFAULT 'eu';",
            f"UPDATE {t} SET status = 'active' WHERE status = 'new';",
            f"CREATE INDEX {t}_created ON {t} (created_at);\nCREATE UNIQUE INDEX {t}_name ON {t} (lower(name));",
            f"CREATE VIEW {t}_active AS SELECT id, name FROM {t} WHERE status = 'active';",
            f"CREATE FUNCTION {t}_touch() RETURNS trigger LANGUAGE plpgsql AS $$\nBEGIN\n"
            f"  NEW.created_at := coalesce(NEW.created_at, now());\n  RETURN NEW;\nEND $$;\n"
            f"CREATE TRIGGER {t}_touch BEFORE INSERT ON {t} FOR EACH ROW EXECUTE FUNCTION {t}_touch();",
            f"DO $$\nBEGIN\n  IF NOT EXISTS (SELECT 1 FROM pg_type WHERE typname = 'mood') THEN\n"
            f"    CREATE TYPE mood AS ENUM ('ok');\n  END IF;\nEND $$;\n"
            f"ALTER TYPE mood ADD VALUE IF NOT EXISTS 'v{v}';",
            f"ALTER TABLE {t} RENAME COLUMN status TO state;",
            f"ALTER TABLE {t} ADD CONSTRAINT {t}_state CHECK (state IN ('new', 'active')) NOT VALID;\n"
            f"ALTER TABLE {t} VALIDATE CONSTRAINT {t}_state;",
            f"DROP VIEW {t}_active;\nALTER TABLE {t} DROP COLUMN region;",
        ][kind]
        out.append((f"step_{v:05d}", body + "\n"))
    return out


def write(folder: Path, history: list[tuple[str, str]]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for number, (slug, text) in enumerate(history, 1):
        (folder / f"{number:05d}_{slug}.sql").write_text(text)
    return folder


@dataclass(frozen=True)
class Run:
    wall_s: float
    client_cpu_s: float
    server_cpu_s: float


def timed_up(src: Path, url: str, folder: Path, server: Server) -> Run:
    env = {**os.environ, "PYTHONPATH": str(src)}
    command = [sys.executable, "-m", "scrydon_migrate", "up", "--service", "platform"]
    command += ["--database-url", url, "--migrations-dir", str(folder)]
    server_before = server.children_cpu_s()
    started = time.perf_counter()
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    assert process.stderr is not None
    with process.stderr:
        stderr = process.stderr.read()  # to its end (the process exits), so a long log never fills the pipe
    _, status, usage = os.wait4(process.pid, 0)
    took = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise SystemExit(f"up failed with {src}: {stderr[-2000:]}")
    server.wait_for_backends_to_exit(url.rsplit("/", 1)[1])
    return Run(took, usage.ru_utime + usage.ru_stime, server.children_cpu_s() - server_before)


@dataclass(frozen=True)
class Server:
    """The scratch cluster's postmaster: it accounts the CPU of its exited backends as its children's."""

    admin_url: str
    pid: int

    @classmethod
    def of(cls, admin_url: str) -> Server:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            record = conn.execute("SELECT setting FROM pg_settings WHERE name = 'data_directory'").fetchone()
        assert record is not None
        return cls(admin_url, int((Path(record[0]) / "postmaster.pid").read_text().split()[0]))

    def children_cpu_s(self) -> float:
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[13]) + int(fields[14])) / os.sysconf("SC_CLK_TCK")  # cutime, cstime

    def wait_for_backends_to_exit(self, database: str) -> None:
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            for _ in range(1000):
                left = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = %s", (database,)).fetchone()
                if left is not None and left[0] == 0:
                    break
                time.sleep(0.01)
        time.sleep(0.05)  # the postmaster reaps an exited backend (and counts its CPU) right after it leaves


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--baseline-src", type=Path, help="the src/ folder of the tree to compare with")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--sizes", type=int, nargs="*", default=[1000])
    parser.add_argument("--realistic", type=int, default=300)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    trees = {"current": HERE.parent / "src"}
    if args.baseline_src:
        trees["baseline"] = args.baseline_src
    histories = {f"small {n}": small(n) for n in args.sizes}
    if args.realistic:
        histories[f"realistic {args.realistic}"] = realistic(args.realistic)
    results: dict[str, dict[str, list[Run]]] = {}
    with scratch_cluster(None) as admin, tempfile.TemporaryDirectory() as work:
        scratch, server = Scratch(admin), Server.of(admin)
        for name, history in histories.items():
            folder = write(Path(work) / name.replace(" ", "_") / "platform", history)
            for _ in range(args.runs):
                for tree, src in trees.items():
                    with scratch.database() as url:
                        results.setdefault(name, {}).setdefault(tree, []).append(timed_up(src, url, folder, server))
    summary = {name: {tree: _summary(runs) for tree, runs in by.items()} for name, by in results.items()}
    if args.json:
        print(json.dumps(summary, indent=2))
        return 0
    for name, by in summary.items():
        for tree, s in by.items():
            print(
                f"{name:>16} {tree:>8}: median {s['median_s']:.2f} s (min {s['min_s']:.2f}, max {s['max_s']:.2f});"
                f" CPU client {s['client_cpu_s']:.2f} s, server {s['server_cpu_s']:.2f} s"
            )
        if "baseline" in by:
            now, then = by["current"], by["baseline"]
            cpu = (now["client_cpu_s"] + now["server_cpu_s"]) / (then["client_cpu_s"] + then["server_cpu_s"])
            print(f"{name:>16}    ratio: {now['median_s'] / then['median_s']:.2f}x the baseline, CPU {cpu:.2f}x")
    return 0


def _summary(runs: list[Run]) -> dict[str, float]:
    walls = [r.wall_s for r in runs]
    return {
        "median_s": statistics.median(walls),
        "min_s": min(walls),
        "max_s": max(walls),
        "client_cpu_s": statistics.median(r.client_cpu_s for r in runs),
        "server_cpu_s": statistics.median(r.server_cpu_s for r in runs),
    }


if __name__ == "__main__":
    sys.exit(main())
