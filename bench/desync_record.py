"""What recording effects from PostgreSQL costs: applying histories before and after.

    python bench/desync_record.py [--baseline-src DIR] [--runs 5] [--sizes 1000] [--realistic 300]

Each run applies a generated history from scratch with one ``up`` process on a fresh database of a
scratch cluster (tmpfs, fsync off), and is timed by wall clock around the process. ``--baseline-src``
is the ``src/`` folder of another checkout (e.g. the release before effects were recorded:
``git worktree add /tmp/before <commit>``); its runs take turns with the current tree's.

Histories: ``small`` is N migrations of the no-op start-up benchmark's cycle (a table, two added
columns, an index, a trigger function); ``realistic`` is a few hundred migrations of the kinds real
histories hold: tables with keys and checks, added columns with defaults, data updates, indexes,
views, functions, triggers, enum values, renames, drops, DO blocks.

Prints one line per history and tree (median, min, max seconds) and the ratio; ``--json`` for machines.
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
from pathlib import Path

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


def timed_up(src: Path, url: str, folder: Path) -> float:
    env = {**os.environ, "PYTHONPATH": str(src)}
    command = [sys.executable, "-m", "scrydon_migrate", "up", "--service", "platform"]
    command += ["--database-url", url, "--migrations-dir", str(folder)]
    started = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    took = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"up failed with {src}: {done.stderr[-2000:]}")
    return took


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
    results: dict[str, dict[str, list[float]]] = {}
    with scratch_cluster(None) as admin, tempfile.TemporaryDirectory() as work:
        scratch = Scratch(admin)
        for name, history in histories.items():
            folder = write(Path(work) / name.replace(" ", "_") / "platform", history)
            for _ in range(args.runs):
                for tree, src in trees.items():
                    with scratch.database() as url:
                        results.setdefault(name, {}).setdefault(tree, []).append(timed_up(src, url, folder))
    summary = {
        name: {tree: {"median_s": statistics.median(t), "min_s": min(t), "max_s": max(t)} for tree, t in by.items()}
        for name, by in results.items()
    }
    if args.json:
        print(json.dumps(summary, indent=2))
        return 0
    for name, by in summary.items():
        for tree, s in by.items():
            print(f"{name:>16} {tree:>8}: median {s['median_s']:.2f} s (min {s['min_s']:.2f}, max {s['max_s']:.2f})")
        if "baseline" in by:
            print(f"{name:>16}    ratio: {by['current']['median_s'] / by['baseline']['median_s']:.2f}x the baseline")
    return 0


if __name__ == "__main__":
    sys.exit(main())
