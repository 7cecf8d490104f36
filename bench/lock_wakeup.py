"""Lock wake-up benchmark: how soon after the holder releases the migration lock do waiting pods leave?

What it measures
----------------
One process takes a service's migration lock (``tracking.acquire_lock``) and holds it for
``--hold`` seconds while ``--waiters`` other processes wait for it, as pods of a rolling
update do. The holder then releases it (``tracking.release_lock``: the unlock and a NOTIFY
in one round trip) and each waiter, once it has the lock, releases it at once, as a pod that
finds the work done does. Reported per round: the time from the holder's release to the
first waiter holding the lock, and to the last one having had it and let go (the whole
queue draining). ``--rounds`` rounds, median / p95 / max.

It also runs the same rounds with a holder that lets go without a NOTIFY (a holder killed
with its connection, or an older release of the tool): the waiters then see it only at their
next poll (back-off to 1 s), which is what every wait cost before.

Target (issue 20, item 3): waiters leave within 100 ms of the holder's release.

Usage::

    python bench/lock_wakeup.py [--rounds 20] [--waiters 9] [--hold 0.5]

It starts a throwaway PostgreSQL (the project's embedded launcher) in /dev/shm and removes
it at the end; results are printed and written to ``bench/results/lock_wakeup.json``.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from scrydon_migrate import db, embedded, tracking

TABLE = "public.platform_migrations"
RESULTS = Path(__file__).parent / "results"


def _connect(url: str, name: str) -> Any:
    return db.connect(url, application_name=name, service="platform")


def _waiter(url: str, ready: Any, out: Any) -> None:
    key = tracking.lock_key(TABLE, "postgres")
    with _connect(url, "bench-waiter") as conn:
        ready.release()
        tracking.acquire_lock(conn, key, service="platform", wait_s=60, report_every_s=60)
        got = time.monotonic()
        tracking.release_lock(conn, key)
        out.put((got, time.monotonic()))


def _round(url: str, waiters: int, hold_s: float, notify: bool) -> tuple[float, float]:
    key = tracking.lock_key(TABLE, "postgres")
    ready = multiprocessing.Semaphore(0)
    out: Any = multiprocessing.Queue()
    with _connect(url, "bench-holder") as holder:
        tracking.acquire_lock(holder, key, service="platform", wait_s=10)
        procs = [multiprocessing.Process(target=_waiter, args=(url, ready, out)) for _ in range(waiters)]
        for proc in procs:
            proc.start()
        for _ in procs:
            ready.acquire()
        time.sleep(hold_s)
        released = time.monotonic()
        if notify:
            tracking.release_lock(holder, key)
        else:
            holder.execute("SELECT pg_advisory_unlock(%s)", (key,))
        times = [out.get(timeout=60) for _ in procs]
        for proc in procs:
            proc.join()
    first = min(got for got, _ in times) - released
    last = max(done for _, done in times) - released
    return first * 1000, last * 1000


def _summary(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {
        "median_ms": round(statistics.median(ordered), 1),
        "p95_ms": round(ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))], 1),
        "max_ms": round(ordered[-1], 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--waiters", type=int, default=9)
    parser.add_argument("--hold", type=float, default=0.5, help="seconds the holder keeps the lock")
    options = parser.parse_args()

    shm = Path("/dev/shm")
    root = Path(tempfile.mkdtemp(prefix="bench-lock-wakeup-", dir=shm if shm.is_dir() else None))
    who = embedded.run_as()
    if who is not None:
        os.chown(root, who.uid, who.gid)
    try:
        server = embedded.start(root / "data", fast=True)
        url = server.url()
        report: dict[str, Any] = {"benchmark": "lock_wakeup", "waiters": options.waiters, "rounds": options.rounds}
        for label, notify in (("release with NOTIFY (this release)", True), ("release without NOTIFY (poll)", False)):
            rounds = [_round(url, options.waiters, options.hold, notify) for _ in range(options.rounds)]
            report[label] = {
                "first_waiter_after_release": _summary([first for first, _ in rounds]),
                "whole_queue_after_release": _summary([last for _, last in rounds]),
            }
        print(json.dumps(report, indent=2))
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / "lock_wakeup.json").write_text(json.dumps(report, indent=2) + "\n")
    finally:
        embedded.stop(root / "data")
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
