"""Large-file parse benchmark: reading, splitting and checksumming one big migration file.

What it measures
----------------
A migration file of N MB made of ``INSERT`` statements (a data load, the usual reason for a
huge file), and one of the same size made of a few very long statements (a big
``INSERT ... VALUES`` per 100,000 rows). Each is scanned and loaded by ``source.scan`` +
``source.load`` (read, decode, split with line numbers, per-statement checksums and lock
facts) in a fresh process; reported: the file's real size (a long statement is 100,000 rows,
~3 MB, so the "long" files are whole statements: 1 and 2 MB round up to 3 MB), statements,
wall time, CPU time and peak RSS. Sizes double, so a linear parse shows time doubling with size.
Then every statement is read as ``up`` reads them (the guard's passes, then each one's text,
line and facts; no database): ``read_cpu_s`` and the peak RSS after, ``read_peak_rss_mib``.

Usage::

    python bench/parse_large.py [--sizes 1,2,4,8] [--full]   # --full adds 50 MB

Results are printed and written to ``bench/results/parse_large.json``.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RESULTS = Path(__file__).parent / "results"


def _write(folder: Path, megabytes: float, shape: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "0001_load.sql"
    target = int(megabytes * 1_000_000)
    with path.open("w") as out:
        written, i = 0, 0
        while written < target:
            if shape == "many":
                line = f"INSERT INTO ledger (id, note) VALUES ({i}, 'entry number {i}');\n"
            else:
                rows = ",\n".join(f"({j}, 'entry number {j}')" for j in range(i, i + 100_000))
                line = f"INSERT INTO ledger (id, note) VALUES\n{rows};\n"
                i += 99_999
            out.write(line)
            written += len(line)
            i += 1
    return folder


def _child(folder: str) -> None:
    from scrydon_migrate import guard, source

    started, cpu = time.perf_counter(), time.process_time()
    files = source.scan("platform", Path(folder))
    migration = source.load(files[0])
    checksum = migration.checksum  # what up compares with the stored one: computed when first asked
    parsed = {
        "statements": len(migration.statements),
        "checksum": checksum[:16],
        "wall_s": round(time.perf_counter() - started, 2),
        "cpu_s": round(time.process_time() - cpu, 2),
        "peak_rss_mib": _peak_mib(),
    }
    # Then every statement read as up reads them before and while applying (no database): the guard's
    # passes over their lock facts, then each one's text, line and facts, as the runner sends it.
    cpu = time.process_time()
    guard.risky_steps([migration])
    guard.planned_not_null_checks([migration])
    sent = sum(len(s.text) + s.line + len(s.locks.creates) for s in migration.runnable)
    assert sent > 0
    print(json.dumps(parsed | {"read_cpu_s": round(time.process_time() - cpu, 2), "read_peak_rss_mib": _peak_mib()}))


def _peak_mib() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1,2,4,8", help="file sizes in MB, comma-separated")
    parser.add_argument("--full", action="store_true", help="add a 50 MB file")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.child:
        _child(options.child)
        return 0
    sizes = [float(s) for s in options.sizes.split(",")] + ([50.0] if options.full else [])
    report = []
    with tempfile.TemporaryDirectory(prefix="bench-parse-") as root:
        for shape in ("many", "long"):
            for size in sizes:
                folder = _write(Path(root) / f"{shape}-{size}", size, shape)
                done = subprocess.run(
                    [sys.executable, __file__, "--child", str(folder)], capture_output=True, text=True, check=True
                )
                file_mb = round((folder / "0001_load.sql").stat().st_size / 1_000_000, 1)
                row = {
                    "shape": shape,
                    "mb": size,
                    "file_mb": file_mb,
                    **json.loads(done.stdout.strip().splitlines()[-1]),
                }
                print(json.dumps(row), flush=True)
                report.append(row)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "parse_large.json").write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
