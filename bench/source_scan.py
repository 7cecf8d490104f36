"""Discovery cost of the migration layouts: what ``source.scan`` adds to every pod's start-up.

``scan`` runs on the no-op path of every ``up`` (it lists the folder, reads and hashes every file,
parses nothing). This times it for N migrations laid out as flat files (``NNNNN_slug.sql``) and as
one folder per migration (``NNNNN_slug/up.sql``, Diesel's layout), in a temporary folder, the two
layouts taking turns so other load hits both alike. It prints the minimum and median of R runs in
milliseconds, and writes nothing else.

Usage::

    python bench/source_scan.py [--migrations 1000] [--runs 60]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from scrydon_migrate import source


def _layouts(root: Path, count: int) -> dict[str, Path]:
    flat, folders = root / "flat", root / "folders"
    flat.mkdir()
    folders.mkdir()
    for i in range(1, count + 1):
        sql = f"CREATE TABLE t{i} (id bigint PRIMARY KEY, note text);\n"
        (flat / f"{i:05d}_step_{i}.sql").write_text(sql)
        (folders / f"{i:05d}_step_{i}").mkdir()
        (folders / f"{i:05d}_step_{i}" / "up.sql").write_text(sql)
        (folders / f"{i:05d}_step_{i}" / "down.sql").write_text(f"DROP TABLE t{i};\n")
    return {"flat files": flat, "one folder per migration": folders}


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n", 1)[0])
    parser.add_argument("--migrations", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=60)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        layouts = _layouts(Path(tmp), options.migrations)
        times: dict[str, list[float]] = {name: [] for name in layouts}
        for _ in range(options.runs):
            for name, folder in layouts.items():
                began = time.perf_counter()
                found = source.scan("platform", folder)
                times[name].append((time.perf_counter() - began) * 1000)
                assert len(found) == options.migrations
    print(f"| layout ({options.migrations} migrations, {options.runs} runs) | min ms | median ms |")
    print("|---|---|---|")
    for name, values in times.items():
        print(f"| {name} | {min(values):.1f} | {statistics.median(values):.1f} |")


if __name__ == "__main__":
    main()
