"""Every comparative benchmark in one command: scrydon-migrate against Alembic, yoyo, dbmate and psql.

What it measures
----------------
Each scenario runs every tool on identical SQL (``bench/peers.py`` generates the migration set
in each tool's format) against fresh databases of one throwaway PostgreSQL (the project's
embedded launcher: PostgreSQL 18, fsync off, in /dev/shm), on the same machine, in the same
run, and reports ratios ours / peer with the issue's targets marked met or missed. Every
timing is a whole process (interpreter or binary start to exit) timed by wall clock around
``subprocess``; the tools are interleaved round-robin so that a change of machine load hits
them alike, and the median of several runs is reported. User+system CPU and the exit status
of every process come from ``os.wait4``; peak RSS from ``/usr/bin/time -f %M`` (see ``Running``).

1. **No-op start-up**: N = 10, 100, 1,000, 5,000 applied migrations (``--quick``: 10 and 1,000).
   Each tool applies the N migrations once to its own fresh database (that run is also timed:
   it is "apply N from scratch" and the memory scenario's peak RSS), then R no-op runs are timed
   after two warm-up runs (byte code cached, as in a built image). Round trips: one more no-op
   run with ``log_statement=all`` and ``log_connections`` switched on (``ALTER SYSTEM`` +
   reload, off again for the timed runs); the statements (``LOG:  statement:`` for the simple
   protocol, ``LOG:  execute`` for the extended one; each one round trip) and connections it
   appended to the server log are counted. psql has no no-op equivalent (it has no tracking),
   so it is not in this table. Baselines: ``python -c pass``, ``python -c "import psycopg"``,
   ``python -m scrydon_migrate --help``; and ``-X importtime`` of one of our no-op runs.
   Targets: faster than every Python peer at every N; within 3× of dbmate; at most 100 ms at 1,000
   and 5,000; flat in N (the same round trips at every N, and the wall time at the largest N within
   1.15× of the smallest); peak RSS at most 30 MiB.
2. **Apply from scratch**: 1,000 migrations (``--quick``: 200) applied to an empty database by
   each tool, and by ``psql -f`` of the concatenated files in one session (the floor),
   ``--apply-runs`` times each (fresh database every time). Plus one logged run per tool
   (statements sent), and a cProfile of our run (where the time goes). Target: within 1.3× of psql.
3. **Rolling update**: a database with 10 migrations applied by the tool gets 50 more
   (``--quick``: 20), and 20 processes of the tool (``--quick``: 10) start at once. Every
   migration ends with ``INSERT INTO bench_runs (version, pid) VALUES (v, pg_backend_pid())``
   (same SQL for every tool), so the rows of ``bench_runs`` count how many times each migration
   was committed; the server log (``log_statement=all`` during the wave) counts how many times
   its statements were sent (attempts, committed or not). Failures are non-zero exits (with
   each one's last error line); wall time runs from the first start to the last exit. Then the
   tool runs once more (a restarted pod) to see whether it converges. dbmate runs twice: as
   installed (no lock: its ``--migration-lock`` is off by default) and with
   ``--migration-lock``. Target: ours applies each migration exactly once, zero failures.
4. **Writer stall and backfill**: runs ``bench/writer_stall.py`` and ``bench/backfill.py``
   (with ``--quick``, their quick modes) and includes their tables, targets and plots.
5. **Desync check cost**: 1,000 migrations building ~10,000 catalog objects (the ``wide``
   shape) against 1,000 of the usual cycle (~4,800) and 10 (a small schema): the check itself
   timed inside a process (``verify.read(...).classify``: the catalog snapshot plus the classification; the
   first call of a fresh process is what ``up`` pays), plus whole no-op ``up`` and
   ``scrydon-migrate verify`` processes. Target: the check under 100 ms.
6. **Memory**: peak RSS of every tool applying the largest N from scratch and of its no-op
   run there (the tool's own maximum resident set size, from ``/usr/bin/time -f %M``).

Usage::

    python bench/run_all.py            # full: ~10 minutes on 2 cores (an idle machine)
    python bench/run_all.py --quick    # ~6 minutes, 4 of them in backfill.py --quick
    python bench/run_all.py --only noop,apply --runs 15 --skip-external

A partial run (``--only``, ``--skip-external``) writes its report to the results folder instead.
``--render results.json`` rewrites ``bench/REPORT.md`` and the plots from a results file.

Writes ``bench/REPORT.md`` and its plots ``bench/report/*.png`` (committed; quantised PNGs of
~100 KB at most), and ``bench/results/run_all[_quick].json`` with every number, plus the full
size plots and the outputs of the two external benchmarks under ``bench/results/run_all[_quick]/``.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime as dt
import json
import math
import os
import platform
import pstats
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import peers
import psycopg

from scrydon_migrate import embedded

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
RESULTS = HERE / "results"
REPORT_DIR = HERE / "report"
REPORT = HERE / "REPORT.md"
# Where this run's report and its small PNGs go: bench/ for a run of every scenario (or --render),
# the results folder for a partial one (--only, --skip-external), so it never replaces the full report.
OUTPUT: dict[str, Path] = {"report": REPORT, "plots": REPORT_DIR}
WARMUP_RUNS = 2
PROCESS_TIMEOUT_S = 900
PNG_BUDGET = 100_000
TIME = Path("/usr/bin/time")
# No spaces or shell metacharacters: pg_ctl hands the options to /bin/sh.
SERVER_SETTINGS = ("log_line_prefix=%p/%a/", "max_connections=200", "log_autovacuum_min_duration=-1")
TOOLS = peers.MIGRATION_TOOLS
COLOURS = {
    peers.OURS: "tab:green",
    peers.ALEMBIC: "tab:blue",
    peers.YOYO: "tab:orange",
    peers.DBMATE: "tab:purple",
    peers.DBMATE_LOCK: "tab:pink",
    peers.PSQL: "tab:gray",
}
SCENARIOS = ("noop", "apply", "rolling", "external", "desync")


def log(message: str) -> None:
    print(f"[run_all {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


@dataclass(frozen=True, slots=True)
class Plan:
    quick: bool
    runs: int
    noop_sizes: tuple[int, ...]
    apply_size: int
    apply_runs: int
    rolling_base: int
    rolling_pending: int
    rolling_procs: int
    rolling_reps: int
    desync_migrations: int


def make_plan(options: argparse.Namespace) -> Plan:
    if options.quick:
        plan = Plan(True, 5, (10, 1000), 200, 3, 10, 20, 10, 1, 1000)
    else:
        plan = Plan(False, 15, (10, 100, 1000, 5000), 1000, 5, 10, 50, 20, 3, 1000)
    if options.runs:
        plan = dataclasses.replace(plan, runs=options.runs)
    if options.apply_runs:
        plan = dataclasses.replace(plan, apply_runs=options.apply_runs)
    return plan


# --------------------------------------------------------------------------- processes


@dataclass
class Proc:
    exit_code: int
    wall_s: float
    cpu_s: float
    rss_mib: float | None  # from /usr/bin/time when asked for (see Running), else None
    stdout: str
    stderr: str
    started: float
    ended: float

    def tail(self, lines: int = 12) -> str:
        return "\n".join((self.stderr + self.stdout).strip().splitlines()[-lines:])

    def last_error(self) -> str:
        """The line that says why a process failed: its last ERROR/exception-like line, else its last line."""
        lines = [ln.strip() for ln in (self.stderr + "\n" + self.stdout).splitlines() if ln.strip()]
        pattern = re.compile(r"(Error|Exception|ERROR|FATAL|error:|Timeout|failed)")
        picked = next((ln for ln in reversed(lines) if pattern.search(ln)), lines[-1] if lines else "(no output)")
        picked = re.sub(r"\b\d{3,}\b", "#", picked)
        return picked[:200]


class Running:
    """A started child process, reaped with ``os.wait4`` for its own rusage.

    Peak RSS needs ``rss=True``: the child then runs under ``/usr/bin/time -f %M``. Linux keeps a
    process's RSS high-water mark across ``exec``, so the ``ru_maxrss`` of a child forked from this
    (~45 MiB) Python process is never below this process's size; ``time`` is a tiny C program
    that forks the tool afresh, so its figure is the tool's own.
    """

    def __init__(self, argv: list[str], env: dict[str, str], cwd: Path, *, rss: bool = False) -> None:
        self.rss_file: Path | None = None
        if rss and TIME.is_file():
            handle, name = tempfile.mkstemp(prefix="bench-rss-")
            os.close(handle)
            self.rss_file = Path(name)
            argv = [str(TIME), "-f", "%M", "-o", name, *argv]
        self.out = tempfile.TemporaryFile()  # noqa: SIM115 - closed in wait()
        self.err = tempfile.TemporaryFile()  # noqa: SIM115 - closed in wait()
        self.started = time.perf_counter()
        self.proc = subprocess.Popen(argv, stdout=self.out, stderr=self.err, env=env, cwd=cwd)

    def wait(self, timeout_s: float = PROCESS_TIMEOUT_S) -> Proc:
        timer = threading.Timer(timeout_s, self.proc.kill)
        timer.start()
        try:
            _, status, usage = os.wait4(self.proc.pid, 0)
        finally:
            timer.cancel()
        ended = time.perf_counter()
        self.proc.returncode = os.waitstatus_to_exitcode(status)
        texts = []
        for handle in (self.out, self.err):
            handle.seek(0)
            texts.append(handle.read().decode(errors="replace"))
            handle.close()
        rss = None
        if self.rss_file is not None:
            with contextlib.suppress(OSError, ValueError, IndexError):
                rss = int(self.rss_file.read_text().split()[-1]) / 1024
            self.rss_file.unlink(missing_ok=True)
        return Proc(
            exit_code=self.proc.returncode,
            wall_s=ended - self.started,
            cpu_s=usage.ru_utime + usage.ru_stime,
            rss_mib=rss,
            stdout=texts[0],
            stderr=texts[1],
            started=self.started,
            ended=ended,
        )


def run(
    argv: list[str], env: dict[str, str], cwd: Path, timeout_s: float = PROCESS_TIMEOUT_S, *, rss: bool = False
) -> Proc:
    return Running(argv, env, cwd, rss=rss).wait(timeout_s)


def mib(value: float | None) -> str:
    return "—" if value is None else f"{value:.0f}"


def checked(proc: Proc, what: str) -> Proc:
    if proc.exit_code != 0:
        raise RuntimeError(f"{what} exited {proc.exit_code}:\n{proc.tail(25)}")
    return proc


def stats(values: list[float], scale: float = 1.0, digits: int = 1) -> dict[str, Any]:
    ordered = sorted(v * scale for v in values)
    if not ordered:
        return {"median": None, "p90": None, "min": None, "max": None, "n": 0}
    return {
        "median": round(statistics.median(ordered), digits),
        "p90": round(ordered[math.ceil(0.9 * len(ordered)) - 1], digits),
        "min": round(ordered[0], digits),
        "max": round(ordered[-1], digits),
        "n": len(ordered),
        "values": [round(v, digits) for v in ordered],
    }


def rotate(items: tuple[str, ...], k: int) -> tuple[str, ...]:
    k %= len(items)
    return items[k:] + items[:k]


def slug(tool: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", tool.lower()).strip("_")


def loadavg() -> float | None:
    with contextlib.suppress(OSError):
        return round(os.getloadavg()[0], 2)
    return None


# --------------------------------------------------------------------------- the cluster and its log

_LOG_LINE = re.compile(r"^(?P<pid>\d+)/(?P<app>.*?)/(?P<level>[A-Z0-9]+):  (?P<text>.*)$")
_STATEMENT = re.compile(r"^(?:statement|execute [^:]*): (?P<sql>.*)$", re.DOTALL)


class Cluster:
    """One throwaway PostgreSQL for scenarios 1, 2, 3 and 5; statement logging switched on per window."""

    def __init__(self, root: Path) -> None:
        self.data = root / "data"
        self.server = embedded.start(self.data, fast=True, settings=SERVER_SETTINGS)
        self.admin = psycopg.connect(self.server.url(), autocommit=True, application_name="bench-admin")
        self.log_path = self.data / "server.log"

    def url(self, database: str) -> str:
        return self.server.url(database)

    def fresh(self, database: str) -> str:
        self.drop(database)
        self.admin.execute(f"CREATE DATABASE {database}")
        return self.url(database)

    def drop(self, database: str) -> None:
        self.admin.execute(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")

    def info(self) -> dict[str, Any]:
        names = [
            "server_version",
            "fsync",
            "synchronous_commit",
            "full_page_writes",
            "shared_buffers",
            "max_connections",
        ]
        rows = self.admin.execute(
            "SELECT name, setting || coalesce(unit, '') FROM pg_settings WHERE name = ANY(%s)", (names,)
        ).fetchall()
        full = self.admin.execute("SELECT version()").fetchone()
        return {"version": full[0] if full else "?", "settings": dict(rows), "data": "tmpfs (/dev/shm)"}

    @contextlib.contextmanager
    def logging(self) -> Iterator[LogWindow]:
        """Log every statement and connection of new sessions while the block runs."""
        self.admin.execute("ALTER SYSTEM SET log_statement = 'all'")
        self.admin.execute("ALTER SYSTEM SET log_connections = 'on'")
        self.admin.execute("SELECT pg_reload_conf()")
        time.sleep(0.3)
        window = LogWindow(self.log_path)
        try:
            yield window
        finally:
            time.sleep(0.3)  # a backend writes its last lines after its client has gone
            window.close()
            self.admin.execute("ALTER SYSTEM RESET log_statement")
            self.admin.execute("ALTER SYSTEM RESET log_connections")
            self.admin.execute("SELECT pg_reload_conf()")
            time.sleep(0.2)

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            self.admin.close()
        with contextlib.suppress(Exception):
            embedded.stop(self.data)


class LogWindow:
    """The server-log entries appended between its creation and ``close`` (multi-line entries joined)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.start = path.stat().st_size
        self.entries: list[dict[str, str]] = []

    def close(self) -> None:
        with self.path.open("rb") as fh:
            fh.seek(self.start)
            text = fh.read().decode(errors="replace")
        for line in text.splitlines():
            match = _LOG_LINE.match(line)
            if match:
                self.entries.append(match.groupdict())
            elif self.entries:
                self.entries[-1]["text"] += "\n" + line

    def statements(self) -> list[str]:
        out = []
        for entry in self.entries:
            if entry["level"] == "LOG" and entry["app"] != "bench-admin":
                match = _STATEMENT.match(entry["text"])
                if match:
                    out.append(match["sql"])
        return out

    def connections(self) -> int:
        return sum(1 for e in self.entries if e["level"] == "LOG" and e["text"].startswith("connection authorized"))


def short(sql: str, width: int = 110) -> str:
    text = " ".join(sql.split())
    return text if len(text) <= width else text[: width - 1] + "…"


# --------------------------------------------------------------------------- context


def machine() -> dict[str, Any]:
    cpu = "unknown"
    memory = None
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    with contextlib.suppress(OSError, ValueError, IndexError):
        memory = round(int(Path("/proc/meminfo").read_text().split()[1]) / 1024 / 1024, 1)
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "memory_gib": memory,
        "kernel": platform.release(),
        "os": platform.platform(),
        "python": platform.python_version(),
    }


def revision() -> dict[str, Any]:
    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, check=False)
        return done.stdout.strip()

    return {
        "commit": git("rev-parse", "--short", "HEAD") or None,
        "src_dirty": bool(git("status", "--porcelain", "src")),
    }


# --------------------------------------------------------------------------- 1. no-op start-up


def scenario_noop(cluster: Cluster, plan: Plan, work: Path) -> dict[str, Any]:
    out: dict[str, Any] = {"sizes": {}, "runs": plan.runs, "warmup_runs": WARMUP_RUNS}
    for size in plan.noop_sizes:
        log(f"no-op: {size:,} migrations: each tool applies them once")
        items = peers.migrations(size)
        layouts, urls, row = {}, {}, {}
        for tool in TOOLS:
            urls[tool] = cluster.fresh(f"noop_{slug(tool)}_{size}")
            layouts[tool] = peers.write(tool, work / f"noop-{size}" / slug(tool), items)
            argv, env = peers.command(layouts[tool], urls[tool])
            applied = checked(run(argv, env, layouts[tool].root, rss=True), f"{tool} applying {size} migrations")
            with psycopg.connect(urls[tool]) as conn:
                tracked = peers.tracked(tool, conn)
            if tracked != size:
                raise RuntimeError(f"{tool} tracks {tracked} of {size} migrations after applying them")
            row[tool] = {"apply_s": round(applied.wall_s, 2), "apply_cpu_s": round(applied.cpu_s, 2)}
            row[tool]["apply_rss_mib"] = applied.rss_mib
        log(f"no-op: {size:,} migrations: {WARMUP_RUNS} warm-ups and {plan.runs} timed runs per tool")
        samples: dict[str, list[Proc]] = {tool: [] for tool in TOOLS}
        for index in range(WARMUP_RUNS + plan.runs):
            for tool in rotate(TOOLS, index):
                argv, env = peers.command(layouts[tool], urls[tool])
                proc = checked(run(argv, env, layouts[tool].root), f"{tool} no-op at {size}")
                if tool == peers.OURS and "up to date" not in proc.stderr + proc.stdout:
                    raise RuntimeError(f"our no-op run did not report 'up to date':\n{proc.tail()}")
                if index >= WARMUP_RUNS:
                    samples[tool].append(proc)
        for tool in TOOLS:
            argv, env = peers.command(layouts[tool], urls[tool])
            with cluster.logging() as window:
                logged = checked(run(argv, env, layouts[tool].root, rss=True), f"{tool} logged no-op at {size}")
            sql = window.statements()
            row[tool] |= {
                "wall_ms": stats([p.wall_s for p in samples[tool]], 1000),
                "cpu_ms": stats([p.cpu_s for p in samples[tool]], 1000),
                "rss_mib": logged.rss_mib,
                "statements": len(sql),
                "connections": window.connections(),
                "statements_sql": [short(s) for s in sql[:40]],
            }
        row[peers.OURS]["phases_ms"] = phase_medians(phases(layouts[peers.OURS], urls[peers.OURS], 0))
        row[peers.OURS]["start_ms"] = start_phases(layouts[peers.OURS], urls[peers.OURS])
        out["sizes"][str(size)] = row
        out["loadavg_after_" + str(size)] = loadavg()
    largest = max(s for s in plan.noop_sizes if s <= 1000)
    out["baselines"] = baselines(plan.runs, work)
    out["importtime"] = importtime(
        peers.command(peers.Layout(peers.OURS, work / f"noop-{largest}" / slug(peers.OURS)), urls_for(cluster, largest))
    )
    out["importtime"]["migrations"] = largest
    return out


def urls_for(cluster: Cluster, size: int) -> str:
    return cluster.url(f"noop_{slug(peers.OURS)}_{size}")


def baselines(runs: int, cwd: Path) -> dict[str, Any]:
    commands = {
        "python -c pass": [sys.executable, "-c", "pass"],
        "python -c 'import psycopg'": [sys.executable, "-c", "import psycopg"],
        "python -m scrydon_migrate --help": [sys.executable, "-m", "scrydon_migrate", "--help"],
        "dbmate --version": [str(peers.BIN / "dbmate"), "--version"],
    }
    out = {}
    env = peers.base_env()
    for name, argv in commands.items():
        for _ in range(WARMUP_RUNS):
            checked(run(argv, env, cwd), name)
        procs = [checked(run(argv, env, cwd), name) for _ in range(runs)]
        memory = checked(run(argv, env, cwd, rss=True), name)
        out[name] = {"wall_ms": stats([p.wall_s for p in procs], 1000), "rss_mib": memory.rss_mib}
    return out


def importtime(command: tuple[list[str], dict[str, str]]) -> dict[str, Any]:
    """``-X importtime`` of one no-op run: total and the slowest top-level imports."""
    argv, env = command
    proc = checked(run([argv[0], "-X", "importtime", *argv[1:]], env, Path.cwd()), "our no-op with -X importtime")
    imports = []  # (cumulative us, depth, module)
    for line in proc.stderr.splitlines():
        parts = line.split("|")
        if not line.startswith("import time:") or len(parts) != 3 or "self [us]" in line:
            continue
        raw = parts[2].removeprefix(" ")
        imports.append((int(parts[1]), (len(raw) - len(raw.lstrip(" "))) // 2, raw.strip()))
    top = sorted((i for i in imports if i[1] == 0), reverse=True)
    nested = {name: us for us, _, name in imports}
    return {
        "total_ms": round(sum(i[0] for i in top) / 1000, 1),
        "top_level_ms": {name: round(us / 1000, 1) for us, _, name in top[:10]},
        "psycopg_ms": round(nested.get("psycopg", 0) / 1000, 1),
        "click_ms": round(nested.get("click", 0) / 1000, 1),
    }


# --------------------------------------------------------------------------- 2. apply from scratch

APPLY_TOOLS = (*TOOLS, peers.PSQL)


def scenario_apply(cluster: Cluster, plan: Plan, work: Path) -> dict[str, Any]:
    size = plan.apply_size
    items = peers.migrations(size)
    tables = math.ceil(size / 4)
    layouts = {tool: peers.write(tool, work / f"apply-{size}" / slug(tool), items) for tool in APPLY_TOOLS}
    samples: dict[str, list[Proc]] = {tool: [] for tool in APPLY_TOOLS}
    log(f"apply: {size:,} migrations from scratch, {plan.apply_runs} runs per tool")
    for index in range(plan.apply_runs):
        for tool in rotate(APPLY_TOOLS, index):
            database = f"apply_{slug(tool)}"
            url = cluster.fresh(database)
            argv, env = peers.command(layouts[tool], url)
            proc = checked(run(argv, env, layouts[tool].root), f"{tool} applying {size} migrations")
            with psycopg.connect(url) as conn:
                found = conn.execute("SELECT count(*) FROM pg_tables WHERE tablename LIKE 'item\\_%'").fetchone()
                tracked = peers.tracked(tool, conn)
            if not found or found[0] != tables or (tracked is not None and tracked != size):
                raise RuntimeError(f"{tool} left {found} item tables (want {tables}) and tracks {tracked} of {size}")
            samples[tool].append(proc)
            cluster.drop(database)
    out: dict[str, Any] = {"migrations": size, "runs": plan.apply_runs, "tools": {}}
    for tool in APPLY_TOOLS:
        url = cluster.fresh(f"apply_{slug(tool)}")
        argv, env = peers.command(layouts[tool], url)
        with cluster.logging() as window:
            logged = checked(run(argv, env, layouts[tool].root, rss=True), f"{tool} logged apply")
        cluster.drop(f"apply_{slug(tool)}")
        sql = window.statements()
        out["tools"][tool] = {
            "wall_s": stats([p.wall_s for p in samples[tool]], 1, 3),
            "cpu_s": stats([p.cpu_s for p in samples[tool]], 1, 3),
            "rss_mib": logged.rss_mib,
            "statements": len(sql),
            "connections": window.connections(),
            "statements_first_migrations": [short(s, 100) for s in sql[:30]],
        }
    out["profile"] = profile_apply(cluster, layouts[peers.OURS], work)
    return out


def profile_apply(cluster: Cluster, layout: peers.Layout, work: Path) -> dict[str, Any]:
    """cProfile of our apply: the heaviest functions of the package, and time in the driver."""
    url = cluster.fresh("apply_profile")
    argv, env = peers.command(layout, url)
    stats_file = work / "apply.prof"
    checked(run([argv[0], "-m", "cProfile", "-o", str(stats_file), *argv[1:]], env, layout.root), "profiled apply")
    cluster.drop("apply_profile")
    raw = pstats.Stats(str(stats_file)).stats  # type: ignore[attr-defined]
    total = max(ct for (_, _, _, ct, _) in raw.values())
    wrappers = {"main", "up", "_up_service", "_up_one", "<module>", "invoke"}
    package = []
    for (filename, _line, name), (_cc, nc, _tt, ct, _callers) in raw.items():
        if "scrydon_migrate" in filename and name not in wrappers and "/cli/" not in filename:
            module = filename.split("scrydon_migrate/", 1)[1].removesuffix(".py").replace("/", ".")
            package.append((ct, nc, f"{module}.{name}"))
    package.sort(reverse=True)
    driver = sum(
        ct
        for (filename, _, name), (_cc, _nc, _tt, ct, _c) in raw.items()
        if filename.endswith("psycopg/connection.py") and name == "execute"
    )
    parse = sum(
        ct
        for (filename, _, name), (_cc, _nc, _tt, ct, _c) in raw.items()
        if filename.endswith("scrydon_migrate/analysis.py") and name == "parse_statements"
    )
    parse_calls = sum(
        nc
        for (filename, _, name), (_cc, nc, _tt, _ct, _c) in raw.items()
        if filename.endswith("scrydon_migrate/analysis.py") and name == "parse_statements"
    )
    return {
        "profiled_total_s": round(total, 2),
        "psycopg_execute_s": round(driver, 2),
        "parse_statements_s": round(parse, 2),
        "parse_statements_calls": parse_calls,
        "top": [{"function": f, "calls": n, "cumulative_s": round(c, 3)} for c, n, f in package[:14]],
    }


# --------------------------------------------------------------------------- 3. rolling update

ROLLING_TOOLS = (*TOOLS, peers.DBMATE_LOCK)
_RUNS_VALUE = re.compile(r"INSERT INTO " + peers.RUNS_TABLE + r" \(version, pid\) VALUES \((\d+),")


ROLLING_VARIANTS = {"tools": "cycle", "data_tools": "data"}  # result key: migration shape


def scenario_rolling(cluster: Cluster, plan: Plan, work: Path) -> dict[str, Any]:
    out: dict[str, Any] = {
        "base": plan.rolling_base,
        "pending": plan.rolling_pending,
        "processes": plan.rolling_procs,
        "reps": plan.rolling_reps,
    }
    for key, shape in ROLLING_VARIANTS.items():
        base = peers.migrations(plan.rolling_base, shape=shape, mark_runs=True)
        full = peers.migrations(plan.rolling_base + plan.rolling_pending, shape=shape, mark_runs=True)
        pending = [m.version for m in full[plan.rolling_base :]]
        out[key] = {}
        for tool in ROLLING_TOOLS:
            base_layout = peers.write(tool, work / f"rolling-{shape}" / slug(tool) / "base", base)
            full_layout = peers.write(tool, work / f"rolling-{shape}" / slug(tool) / "full", full)
            reps = []
            for rep in range(plan.rolling_reps):
                log(
                    f"rolling ({shape}): {tool}: {plan.rolling_procs} processes on {plan.rolling_pending} pending "
                    f"(rep {rep + 1})"
                )
                reps.append(rolling_once(cluster, plan, tool, base_layout, full_layout, pending))
            out[key][tool] = reps
    return out


def rolling_once(
    cluster: Cluster, plan: Plan, tool: str, base: peers.Layout, full: peers.Layout, pending: list[int]
) -> dict[str, Any]:
    database = f"rolling_{slug(tool)}"
    url = cluster.fresh(database)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(peers.RUNS_DDL)
    argv, env = peers.command(base, url)
    checked(run(argv, env, base.root), f"{tool} applying the base migrations")
    argv, env = peers.command(full, url)
    with cluster.logging() as window:
        started = [Running(argv, env, full.root) for _ in range(plan.rolling_procs)]
        done: list[Proc | None] = [None] * len(started)

        def reap(index: int) -> None:
            done[index] = started[index].wait()

        threads = [threading.Thread(target=reap, args=(i,)) for i in range(len(started))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    procs = [p for p in done if p is not None]
    wall = max(p.ended for p in procs) - min(p.started for p in procs)
    attempts = Counter(int(v) for sql in window.statements() for v in _RUNS_VALUE.findall(sql))
    with psycopg.connect(url) as conn:
        committed = after_wave = counts(conn, pending)
        tracked = peers.tracked(tool, conn)
    restart = run(argv, env, full.root)
    with psycopg.connect(url) as conn:
        after_restart = counts(conn, pending)
        tracked_restart = peers.tracked(tool, conn)
    cluster.drop(database)
    failures = [p for p in procs if p.exit_code != 0]
    return {
        "wall_s": round(wall, 2),
        "failed": len(failures),
        "exit_codes": dict(Counter(str(p.exit_code) for p in procs)),
        "errors": dict(Counter(p.last_error() for p in failures).most_common(6)),
        "process_wall_s": stats([p.wall_s for p in procs], 1, 2),
        "committed": summarize_counts(committed, pending),
        "attempts": summarize_counts({v: attempts.get(v, 0) for v in pending}, pending),
        "tracked_after_wave": tracked,
        "restart_exit": restart.exit_code,
        "restart_error": restart.last_error() if restart.exit_code else None,
        "after_restart": summarize_counts(after_restart, pending),
        "tracked_after_restart": tracked_restart,
        "expected_tracked": pending[-1],
        "committed_by_version": {str(v): after_wave.get(v, 0) for v in pending},
    }


def counts(conn: psycopg.Connection, pending: list[int]) -> dict[int, int]:
    rows = conn.execute(
        f"SELECT version, count(*) FROM {peers.RUNS_TABLE} WHERE version >= %s GROUP BY version", (pending[0],)
    ).fetchall()
    return {int(v): int(c) for v, c in rows}


def summarize_counts(by_version: dict[int, int], pending: list[int]) -> dict[str, int]:
    values = [by_version.get(v, 0) for v in pending]
    return {
        "exactly_once": sum(1 for v in values if v == 1),
        "never": sum(1 for v in values if v == 0),
        "more_than_once": sum(1 for v in values if v > 1),
        "max": max(values, default=0),
        "total": sum(values),
    }


# --------------------------------------------------------------------------- 4. writer stall and backfill

EXTERNAL = {
    "writer_stall": "writer_stall.py",
    "backfill": "backfill.py",
}


def scenario_external(plan: Plan, out_dir: Path) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, script in EXTERNAL.items():
        target = out_dir / name
        target.mkdir(parents=True, exist_ok=True)
        argv = [sys.executable, str(HERE / script), "--out", str(target), *(["--quick"] if plan.quick else [])]
        log(f"{name}: {' '.join(Path(a).name if a.startswith('/') else a for a in argv)} (its own cluster)")
        began = time.perf_counter()
        proc = run(argv, peers.base_env(), REPO, timeout_s=3600)
        (target / "output.txt").write_text(proc.stdout + "\n--- stderr ---\n" + proc.stderr)
        entry: dict[str, Any] = {
            "command": f"python bench/{script}" + (" --quick" if plan.quick else ""),
            "exit_code": proc.exit_code,
            "duration_s": round(time.perf_counter() - began),
        }
        md, js, png = target / f"{name}.md", target / f"{name}.json", target / f"{name}.png"
        if md.is_file():
            entry["markdown"] = md.read_text()
        if js.is_file():
            data = json.loads(js.read_text())
            entry["target_met"] = data.get("target_met")
            entry["rows"] = data.get("rows")
            entry["summary"] = {
                k: data.get(k) for k in ("throughput_ratio", "throughput_met", "latency_met", "target_ms") if k in data
            }
            entry["results"] = data.get("results")
        if png.is_file():
            entry["plot"] = shrink(png, OUTPUT["plots"] / f"{name}.png")
        if proc.exit_code != 0:
            entry["error"] = proc.tail(20)
        out[name] = entry
    return out


# --------------------------------------------------------------------------- 5. desync check

# Run as ``python -c PHASES_CHILD URL FOLDER REPS``: the steps of a no-op ``up`` one by one, timed
# in-process (ms): imports (psycopg and the modules up uses; not click and the CLI), scanning the
# files, connecting, reading the tracking rows, the desync check (first call, then REPS warm calls),
# the catalog snapshot alone and the classification alone. Prints one JSON line.
PHASES_CHILD = r"""
import json, sys, time
from pathlib import Path
T0 = time.perf_counter()
import psycopg
from scrydon_migrate import catalog, db, source, tracking, verify
imports = (time.perf_counter() - T0) * 1000
url, folder, reps = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3])
t = time.perf_counter(); files = source.scan("platform", folder); scan = (time.perf_counter() - t) * 1000
t = time.perf_counter(); conn = db.connect(url, application_name="bench-phases", service="platform")
connect = (time.perf_counter() - t) * 1000
t = time.perf_counter(); rows = tracking.read_rows(conn, "platform_migrations") or {}
rows_ms = (time.perf_counter() - t) * 1000
t = time.perf_counter(); result = verify.read(conn, "platform_migrations").classify(files)
first = (time.perf_counter() - t) * 1000
warm, snap, present = [], [], set()
for _ in range(reps):
    t = time.perf_counter(); verify.read(conn, "platform_migrations").classify(files)
    warm.append((time.perf_counter() - t) * 1000)
    t = time.perf_counter(); present = catalog.snapshot(conn, "public.platform_migrations")
    snap.append((time.perf_counter() - t) * 1000)
applied = verify.applied_migrations(files, rows, present)
t = time.perf_counter(); verify.classify(applied, present); classify_ms = (time.perf_counter() - t) * 1000
print(json.dumps({"kind": result.kind.value, "first_ms": first, "warm_ms": warm, "snapshot_ms": snap,
                  "classify_ms": classify_ms, "objects": len(present), "migrations": len(rows),
                  "imports_ms": imports, "scan_ms": scan, "connect_ms": connect, "rows_ms": rows_ms}))
"""


# Run as ``python -c START_CHILD URL FOLDER``: the start-up check a no-op ``up`` answers with, step by
# step (ms): its imports (without click and the CLI), the folder's stat key, a libpq connection, and the
# whole proof (connection and its two statements). Prints one JSON line.
START_CHILD = r"""
import json, sys, time
T0 = time.perf_counter()
from pathlib import Path
from scrydon_migrate import libpq, startup
from scrydon_migrate.config import load_settings
imports = (time.perf_counter() - T0) * 1000
url, folder = sys.argv[1], Path(sys.argv[2])
settings = load_settings(services=["platform"], database_url=url, migrations_dir=str(folder))
svc = settings.services[0]
t = time.perf_counter(); key = startup.files_key(svc.migrations_dir); stat_ms = (time.perf_counter() - t) * 1000
t = time.perf_counter(); libpq.Connection(url, application_name="bench", connect_timeout_s=10).close()
connect = (time.perf_counter() - t) * 1000
t = time.perf_counter(); total = startup.stored_total(settings, svc, key); proof = (time.perf_counter() - t) * 1000
print(json.dumps({"imports_ms": imports, "stat_ms": stat_ms, "connect_ms": connect, "proof_ms": proof,
                  "proven": total is not None}))
"""


def start_phases(layout: peers.Layout, url: str, runs: int = 3) -> dict[str, Any]:
    """Medians of ``runs`` runs of START_CHILD against ``url`` (after one warm-up)."""
    child = [sys.executable, "-c", START_CHILD, url, str(layout.ours)]
    out = []
    for index in range(runs + 1):
        proc = checked(run(child, peers.base_env(), layout.root), "the start-up check's phases")
        if index:
            out.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    keys = ("imports_ms", "stat_ms", "connect_ms", "proof_ms")
    return {k: round(statistics.median(s[k] for s in out), 1) for k in keys} | {"proven": all(s["proven"] for s in out)}


def phases(layout: peers.Layout, url: str, reps: int, runs: int = 3) -> list[dict[str, Any]]:
    """``runs`` runs of PHASES_CHILD against ``url`` (after one warm-up)."""
    child = [sys.executable, "-c", PHASES_CHILD, url, str(layout.ours), str(reps)]
    out = []
    for index in range(runs + 1):
        proc = checked(run(child, peers.base_env(), layout.root), "the in-process phases")
        if index:
            out.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    return out


def phase_medians(samples: list[dict[str, Any]]) -> dict[str, float]:
    keys = ("imports_ms", "scan_ms", "connect_ms", "rows_ms", "first_ms")
    return {k: round(statistics.median(s[k] for s in samples), 1) for k in keys}


def scenario_desync(cluster: Cluster, plan: Plan, work: Path) -> dict[str, Any]:
    cases = {
        "small: 10 migrations": peers.migrations(10),
        f"{plan.desync_migrations:,} migrations, usual cycle": peers.migrations(plan.desync_migrations),
        f"{plan.desync_migrations:,} migrations, ~10 objects each": peers.migrations(
            plan.desync_migrations, shape="wide"
        ),
    }
    out: dict[str, Any] = {"cases": {}, "runs": plan.runs}
    for index, (label, items) in enumerate(cases.items()):
        log(f"desync: {label}")
        url = cluster.fresh(f"desync_{index}")
        layout = peers.write(peers.OURS, work / f"desync-{index}", items)
        argv, env = peers.command(layout, url)
        checked(run(argv, env, layout.root), f"applying {label}")
        with psycopg.connect(url) as conn:
            relations = conn.execute(
                "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
                " WHERE n.nspname = 'public'"
            ).fetchone()
        checks = phases(layout, url, 15, max(3, plan.runs // 2))
        verify_argv, _ = peers.command(layout, url, verb="verify")
        timings: dict[str, list[float]] = {"up": [], "verify": []}
        for rep in range(WARMUP_RUNS + plan.runs):
            for verb, command in rotate((("up", argv), ("verify", verify_argv)), rep):  # type: ignore[arg-type]
                proc = checked(run(command, env, layout.root), f"{verb} on {label}")
                if rep >= WARMUP_RUNS:
                    timings[verb].append(proc.wall_s)
        out["cases"][label] = {
            "migrations": len(items),
            "catalog_objects": checks[0]["objects"],
            "relations": relations[0] if relations else None,
            "kind": checks[0]["kind"],
            "check_first_ms": stats([c["first_ms"] for c in checks]),
            "check_warm_ms": stats([v for c in checks for v in c["warm_ms"]]),
            "snapshot_ms": stats([v for c in checks for v in c["snapshot_ms"]]),
            "classify_ms": stats([c["classify_ms"] for c in checks]),
            "up_ms": stats(timings["up"], 1000),
            "verify_ms": stats(timings["verify"], 1000),
        }
        cluster.drop(f"desync_{index}")
    return out


# --------------------------------------------------------------------------- plots


def shrink(source: Path, target: Path, width: int = 1100) -> str:
    """A quantised copy of ``source`` at most ``width`` px wide, under PNG_BUDGET bytes if it can be."""
    from PIL import Image

    target.parent.mkdir(parents=True, exist_ok=True)
    image = Image.open(source).convert("RGB")
    for colours, w in ((128, width), (64, width), (64, 950), (32, 850), (32, 750)):
        scaled = image
        if image.width > w:
            scaled = image.resize((w, round(image.height * w / image.width)), Image.Resampling.LANCZOS)
        scaled.quantize(colors=colours).save(target, optimize=True)
        if target.stat().st_size <= PNG_BUDGET:
            break
    return f"report/{target.name}"


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save(fig: Any, name: str, out_dir: Path) -> str:
    full = out_dir / f"{name}.png"
    fig.savefig(full, dpi=100)
    _plt().close(fig)
    return shrink(full, OUTPUT["plots"] / f"{name}.png")


def plot_noop(data: dict[str, Any], out_dir: Path) -> str:
    plt = _plt()
    sizes = [int(s) for s in data["sizes"]]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2), constrained_layout=True)
    for tool in TOOLS:
        rows = [data["sizes"][str(s)][tool] for s in sizes]
        med = [r["wall_ms"]["median"] for r in rows]
        low = [m - r["wall_ms"]["min"] for m, r in zip(med, rows, strict=True)]
        high = [r["wall_ms"]["p90"] - m for m, r in zip(med, rows, strict=True)]
        left.errorbar(sizes, med, yerr=[low, high], marker="o", capsize=3, label=tool, color=COLOURS[tool])
        right.plot(sizes, [r["statements"] for r in rows], marker="o", label=tool, color=COLOURS[tool])
    left.set_xscale("log")
    left.set_yscale("log")
    left.set_xlabel("applied migrations")
    left.set_ylabel("whole no-op process, ms (median; bars min–p90)")
    left.set_title("No-op start-up: wall time", fontsize=10)
    right.set_xscale("log")
    right.set_yscale("log")
    right.set_xlabel("applied migrations")
    right.set_ylabel("statements sent (round trips)")
    right.set_title("No-op start-up: round trips", fontsize=10)
    from matplotlib.ticker import FuncFormatter

    for ax in (left, right):
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax.yaxis.set_minor_formatter(FuncFormatter(lambda v, _: f"{v:g}" if str(v)[0] in "2356" else ""))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
    return save(fig, "noop_startup", out_dir)


def plot_apply(data: dict[str, Any], out_dir: Path) -> str:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(9, 4), constrained_layout=True)
    tools = list(data["tools"])
    med = [data["tools"][t]["wall_s"]["median"] for t in tools]
    low = [m - data["tools"][t]["wall_s"]["min"] for m, t in zip(med, tools, strict=True)]
    high = [data["tools"][t]["wall_s"]["max"] - m for m, t in zip(med, tools, strict=True)]
    cpu = [data["tools"][t]["cpu_s"]["median"] for t in tools]
    bars = ax.bar(tools, med, yerr=[low, high], capsize=4, color=[COLOURS[t] for t in tools], label="wall (median)")
    ax.bar(tools, cpu, width=0.3, color="black", alpha=0.35, label="client CPU (median)")
    floor = data["tools"][peers.PSQL]["wall_s"]["median"]
    for bar, value in zip(bars, med, strict=True):
        at = (bar.get_x() + bar.get_width() / 2, value)
        label = f"{value:.2f} s\n{value / floor:.1f}× psql"
        ax.annotate(label, at, ha="center", va="bottom", fontsize=8, xytext=(0, 3), textcoords="offset points")
    ax.axhline(1.3 * floor, color="tab:red", lw=0.8, ls="--", label="target: 1.3× psql")
    ax.set_ylabel("seconds (bars min–max)")
    ax.set_title(f"Apply {data['migrations']:,} migrations to an empty database", fontsize=10)
    ax.legend(fontsize=8)
    ax.grid(True, axis="y", alpha=0.3)
    return save(fig, "apply_from_scratch", out_dir)


def plot_rolling(data: dict[str, Any], out_dir: Path) -> str:
    plt = _plt()
    variants = [k for k in ROLLING_VARIANTS if k in data]
    fig, grid = plt.subplots(
        len(variants), 3, figsize=(13, 3.9 * len(variants)), constrained_layout=True, squeeze=False
    )
    for axes, key in zip(grid, variants, strict=True):
        kind = "data-only migrations" if key == "data_tools" else "schema migrations"
        tools = list(data[key])
        failed = [statistics.median(r["failed"] for r in data[key][t]) for t in tools]
        ok = [data["processes"] - f for f in failed]
        axes[0].bar(tools, ok, color="tab:green", label="exit 0")
        axes[0].bar(tools, failed, bottom=ok, color="tab:red", label="failed (non-zero exit)")
        axes[0].set_title(f"{kind}: {data['processes']} processes' exits", fontsize=9)
        keys = (
            ("exactly_once", "tab:green", "committed once"),
            ("never", "tab:orange", "never"),
            ("more_than_once", "tab:red", "more than once"),
        )
        bottom = [0.0] * len(tools)
        for name, colour, label in keys:
            values = [max(r["committed"][name] for r in data[key][t]) for t in tools]
            axes[1].bar(tools, values, bottom=bottom, color=colour, label=label)
            bottom = [b + v for b, v in zip(bottom, values, strict=True)]
        axes[1].set_title(f"{kind}: {data['pending']} pending, after (worst rep)", fontsize=9)
        walls = [statistics.median(r["wall_s"] for r in data[key][t]) for t in tools]
        axes[2].bar(tools, walls, color=[COLOURS[t] for t in tools])
        axes[2].set_title(f"{kind}: s until all exited (median)", fontsize=9)
        for ax in axes:
            ax.tick_params(axis="x", labelrotation=25, labelsize=8)
            ax.grid(True, axis="y", alpha=0.3)
        axes[0].legend(fontsize=8, loc="lower left")
        axes[1].legend(fontsize=8, loc="lower left")
    return save(fig, "rolling_update", out_dir)


def plot_desync(data: dict[str, Any], out_dir: Path) -> str:
    plt = _plt()
    labels = list(data["cases"])
    fig, ax = plt.subplots(figsize=(10, 4), constrained_layout=True)
    xs = range(len(labels))
    series = (
        ("check in-process, first call", "check_first_ms", "tab:green"),
        ("catalog snapshot", "snapshot_ms", "tab:olive"),
        ("whole no-op up", "up_ms", "tab:blue"),
        ("whole verify", "verify_ms", "tab:cyan"),
    )
    width = 0.2
    for k, (label, key, colour) in enumerate(series):
        values = [data["cases"][c][key]["median"] for c in labels]
        ax.bar([x + (k - 1.5) * width for x in xs], values, width=width, label=label, color=colour)
    ax.axhline(100, color="tab:red", ls="--", lw=0.8, label="target: check < 100 ms")
    ax.set_xticks(list(xs), [f"{c}\n({data['cases'][c]['catalog_objects']:,} objects)" for c in labels], fontsize=8)
    ax.set_ylabel("ms (median)")
    ax.set_title("Desync check cost", fontsize=10)
    ax.legend(fontsize=8)
    ax.grid(True, axis="y", alpha=0.3)
    return save(fig, "desync_check", out_dir)


def plot_memory(data: dict[str, Any], out_dir: Path) -> str:
    plt = _plt()
    size = str(max(int(s) for s in data["sizes"]))
    row = data["sizes"][size]
    fig, ax = plt.subplots(figsize=(8, 3.8), constrained_layout=True)
    xs = range(len(TOOLS))
    ax.bar([x - 0.2 for x in xs], [row[t]["apply_rss_mib"] or 0 for t in TOOLS], width=0.4, label="apply from scratch")
    ax.bar([x + 0.2 for x in xs], [row[t]["rss_mib"] or 0 for t in TOOLS], width=0.4, label="no-op")
    ax.set_xticks(list(xs), TOOLS)
    ax.set_ylabel("peak RSS (MiB)")
    ax.set_title(f"Peak RSS of one process, {int(size):,} migrations", fontsize=10)
    ax.legend(fontsize=8)
    ax.grid(True, axis="y", alpha=0.3)
    return save(fig, "memory", out_dir)


# --------------------------------------------------------------------------- report


def met(flag: bool | None) -> str:
    return "n/a" if flag is None else ("**met**" if flag else "**missed**")


def ratio(a: float | None, b: float | None) -> float | None:
    return None if not a or not b else a / b


def fx(value: float | None, digits: int = 2) -> str:
    return "—" if value is None else f"{value:.{digits}f}×"


def render(results: dict[str, Any]) -> tuple[str, list[dict[str, str]]]:
    """REPORT.md, and the headline rows (scenario, measure, result, target, verdict)."""
    plan = results["plan"]
    m = results["machine"]
    head: list[dict[str, str]] = []
    body: list[str] = []
    noop, apply_, rolling = results.get("noop"), results.get("apply"), results.get("rolling")
    external, desync = results.get("external"), results.get("desync")

    if isinstance(noop, dict) and "sizes" in noop:
        body += render_noop(noop, head)
    elif noop is not None:
        body += ["## 1. No-op start-up", "", f"Failed: `{noop}`", ""]
    if isinstance(apply_, dict) and "tools" in apply_:
        body += render_apply(apply_, head)
    elif apply_ is not None:
        body += ["## 2. Apply from scratch", "", f"Failed: `{apply_}`", ""]
    if isinstance(rolling, dict) and "tools" in rolling:
        body += render_rolling(rolling, head)
    elif rolling is not None:
        body += ["## 3. Rolling update", "", f"Failed: `{rolling}`", ""]
    if isinstance(external, dict) and "error" not in external:
        body += render_external(external, head)
    elif external is not None:
        body += ["## 4. Writer stall and backfill", "", f"Failed: `{external}`", ""]
    if isinstance(desync, dict) and "cases" in desync:
        body += render_desync(desync, head)
    elif desync is not None:
        body += ["## 5. Desync check cost", "", f"Failed: `{desync}`", ""]
    if isinstance(noop, dict) and "sizes" in noop:
        body += render_memory(noop, head)

    mode = "quick" if plan["quick"] else "full"
    load = results["loadavg"]
    lines = [
        "# scrydon-migrate against its peers",
        "",
        f"Generated by `python bench/run_all.py{' --quick' if plan['quick'] else ''}` ({mode} mode) on "
        f"{results['date']}, in {results['duration_s'] / 60:.1f} minutes. Source `{results['revision']['commit']}`"
        + (" with uncommitted changes under `src/`" if results["revision"]["src_dirty"] else "")
        + ". Every number below is regenerated by that command; `bench/results/run_all"
        + ("_quick" if plan["quick"] else "")
        + ".json` has every run.",
        "",
        "## Set-up",
        "",
        f"* Machine: {m['nproc']} × {m['cpu']}, {m['memory_gib']} GiB, Linux {m['kernel']}, Python {m['python']}.",
        f"* PostgreSQL: {results['postgres']['version']}; the project's embedded launcher, data on tmpfs, "
        + ", ".join(f"{k}={v}" for k, v in results["postgres"]["settings"].items() if k != "server_version")
        + "; client and server on the same machine (loopback TCP). Scenario 4 starts its own durable cluster.",
        f"* Load: load average {load['start']} at the start, {load['end']} at the end (which counts the"
        f" benchmark's own last scenarios), on {m['nproc']} CPUs"
        + (
            " — **the machine was busy** (other work was running): absolute times are inflated and noisy; "
            "the tools were interleaved round-robin so ratios suffer less, but read differences under ~10% as noise."
            if (load["start"] or 0) > 0.5 * (m["nproc"] or 1)
            else "."
        ),
        f"* Repetitions: {plan['runs']} timed runs after {WARMUP_RUNS} warm-ups for every no-op measurement, "
        f"{plan['apply_runs']} for every apply; medians reported (p90 and min in the JSON).",
        "",
        "| tool | version |",
        "|---|---|",
        *(f"| {k} | {v} |" for k, v in results["versions"].items()),
        "",
        "## Headline",
        "",
        "| scenario | measure | result | target | verdict |",
        "|---|---|---|---|---|",
        *(f"| {h['scenario']} | {h['measure']} | {h['result']} | {h['target']} | {h['verdict']} |" for h in head),
        "",
        *body,
        "## Method",
        "",
        *method_text(plan),
    ]
    return "\n".join(lines) + "\n", head


def render_noop(data: dict[str, Any], head: list[dict[str, str]]) -> list[str]:
    sizes = list(data["sizes"])
    ours = {s: data["sizes"][s][peers.OURS]["wall_ms"]["median"] for s in sizes}
    lines = [
        "## 1. No-op start-up",
        "",
        "A whole process on a database where every migration is already applied: median wall ms "
        "(ratio ours / peer in brackets), statements sent, connections.",
        "",
        "| applied migrations | " + " | ".join(TOOLS) + " |",
        "|---:|" + "---:|" * len(TOOLS),
    ]
    for s in sizes:
        cells = []
        for tool in TOOLS:
            r = data["sizes"][s][tool]
            value = r["wall_ms"]["median"]
            rel = "" if tool == peers.OURS else f" ({fx(ratio(ours[s], value))})"
            cells.append(f"{value:.1f}{rel}")
        lines.append(f"| {int(s):,} | " + " | ".join(cells) + " |")
    lines += ["", "| applied migrations | " + " | ".join(f"{t}: statements / connections" for t in TOOLS) + " |"]
    lines.append("|---:|" + "---:|" * len(TOOLS))
    for s in sizes:
        row = data["sizes"][s]
        lines.append(
            f"| {int(s):,} | " + " | ".join(f"{row[t]['statements']} / {row[t]['connections']}" for t in TOOLS) + " |"
        )
    lines += [
        "",
        "psql has no no-op: it keeps no record of what it ran, so running the files again would fail (or, "
        "with idempotent SQL, redo them); it is the floor of scenario 2 only.",
        "",
    ]
    lines += [
        "Our no-op is answered by the start-up check (`startup.py`): the state the last full check stored is "
        "compared over libpq, without psycopg. Step by step, timed inside one process (`START_CHILD`, median "
        "of 3; the imports without click and the CLI), against the whole process; and, for comparison, the "
        "full check that a start takes after any change (`PHASES_CHILD`: psycopg imported, files scanned and "
        "hashed, tracking rows and catalog read, desync check):",
        "",
        "| applied migrations | start-up: imports | stat the folder | connect (libpq) | proof (connect + 2 statements) "
        "| whole process | full check: imports | scan files | connect | tracking rows | desync check |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for s in sizes:
        ph = data["sizes"][s][peers.OURS]["phases_ms"]
        st = data["sizes"][s][peers.OURS]["start_ms"]
        lines.append(
            f"| {int(s):,} | {st['imports_ms']} | {st['stat_ms']} | {st['connect_ms']} | {st['proof_ms']} "
            f"| {ours[s]} | {ph['imports_ms']} | {ph['scan_ms']} | {ph['connect_ms']} | {ph['rows_ms']} "
            f"| {ph['first_ms']} |"
        )
    lines += [
        "",
        "The first apply of each set (one run each, seconds; scenario 2 repeats this at one size with psql):",
        "",
        "| migrations | " + " | ".join(TOOLS) + " |",
        "|---:|" + "---:|" * len(TOOLS),
        *(
            f"| {int(s):,} | " + " | ".join(f"{data['sizes'][s][t]['apply_s']:.2f}" for t in TOOLS) + " |"
            for s in sizes
        ),
        "",
    ]
    base = data["baselines"]
    lines += ["| baseline (whole process) | median ms | peak RSS MiB |", "|---|---:|---:|"]
    lines += [f"| `{k}` | {v['wall_ms']['median']} | {mib(v['rss_mib'])} |" for k, v in base.items()]
    imp = data["importtime"]
    lines += [
        "",
        f"`-X importtime` of our no-op run ({imp['migrations']:,} migrations): {imp['total_ms']} ms of imports, "
        f"psycopg {imp['psycopg_ms']} ms, click {imp['click_ms']} ms; slowest top-level imports: "
        + ", ".join(f"`{k}` {v}" for k, v in list(imp["top_level_ms"].items())[:6])
        + ".",
        "",
    ]
    # targets
    for peer in peers.PYTHON_PEERS:
        ratios = {s: ratio(ours[s], data["sizes"][s][peer]["wall_ms"]["median"]) for s in sizes}
        misses = [s for s, r in ratios.items() if r is not None and r >= 1]
        ties = [
            s for s in misses if overlap(data["sizes"][s][peers.OURS]["wall_ms"], data["sizes"][s][peer]["wall_ms"])
        ]
        head.append(
            {
                "scenario": "1. no-op start-up",
                "measure": f"ours / {peer}, median wall, at " + ", ".join(f"{int(s):,}" for s in sizes),
                "result": ", ".join(fx(r) for r in ratios.values()),
                "target": "< 1× at every size",
                "verdict": met(not misses)
                + ("" if not misses else f" at {', '.join(f'{int(s):,}' for s in misses)}")
                + (
                    f" (at {', '.join(f'{int(s):,}' for s in ties)} within the noise: min–p90 ranges overlap)"
                    if ties
                    else ""
                )
                + (": see §1" if misses else ""),
            }
        )
    dbm = {s: ratio(ours[s], data["sizes"][s][peers.DBMATE]["wall_ms"]["median"]) for s in sizes}
    head.append(
        {
            "scenario": "1. no-op start-up",
            "measure": "ours / dbmate, median wall",
            "result": ", ".join(fx(r, 1) for r in dbm.values()),
            "target": "≤ 3×",
            "verdict": met(all(r is not None and r <= 3 for r in dbm.values())),
        }
    )
    trips = [data["sizes"][s][peers.OURS]["statements"] for s in sizes]
    growth = ratio(ours[sizes[-1]], ours[sizes[0]])
    head.append(
        {
            "scenario": "1. no-op start-up",
            "measure": f"ours flat in N: statements at {', '.join(f'{int(s):,}' for s in sizes)}; "
            f"wall {int(sizes[-1]):,} / {int(sizes[0]):,}",
            "result": f"{', '.join(map(str, trips))}; {fx(growth)}",
            "target": "same statements; wall ≤ 1.15×",
            "verdict": f"round trips {met(len(set(trips)) == 1)}, wall {met(growth is not None and growth <= 1.15)}",
        }
    )
    big = [s for s in sizes if int(s) >= 1000]
    head.append(
        {
            "scenario": "1. no-op start-up",
            "measure": "ours, median wall, whole process, at " + ", ".join(f"{int(s):,}" for s in big),
            "result": ", ".join(f"{ours[s]:.0f} ms" for s in big),
            "target": "≤ 100 ms",
            "verdict": met(bool(big) and all(ours[s] <= 100 for s in big)),
        }
    )
    rss = {s: data["sizes"][s][peers.OURS]["rss_mib"] for s in sizes}
    head.append(
        {
            "scenario": "1. no-op start-up",
            "measure": "ours, peak RSS of the no-op, at " + ", ".join(f"{int(s):,}" for s in sizes),
            "result": ", ".join(f"{mib(r)} MiB" for r in rss.values()),
            "target": "≤ 30 MiB",
            "verdict": met(all(r is not None and r <= 30 for r in rss.values())),
        }
    )
    lines += noop_reasons(data, ours, dbm, growth)
    lines += ["", "![no-op start-up](report/noop_startup.png)", ""]
    first = sizes[0]
    for tool in TOOLS:
        sql = data["sizes"][first][tool]["statements_sql"]
        lines += [f"<details><summary>statements of one {tool} no-op run ({int(first):,} migrations)</summary>", ""]
        lines += [f"{i}. `{s.replace('|', '¦')}`" for i, s in enumerate(sql, 1)] + ["", "</details>", ""]
    return lines


def overlap(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Whether two timing summaries' min–p90 ranges overlap."""
    return bool(a["min"] <= b["p90"] and b["min"] <= a["p90"])


def noop_reasons(data: dict[str, Any], ours: dict[str, float], dbm: dict[str, float | None], growth: Any) -> list[str]:
    """Why a no-op target is missed, from the measurements."""
    base = data["baselines"]
    floor = base["python -c pass"]["wall_ms"]["median"]
    psy = base["python -c 'import psycopg'"]["wall_ms"]["median"]
    helptime = base["python -m scrydon_migrate --help"]["wall_ms"]["median"]
    sizes = list(data["sizes"])
    lines = ["**Why, where a target is missed** (from the numbers above):", ""]
    worst = max(dbm.values(), key=lambda r: r or 0)
    imp = data["importtime"]
    if worst and worst > 3:
        d = data["sizes"][sizes[0]][peers.DBMATE]["wall_ms"]["median"]
        fixed = floor + imp["psycopg_ms"]
        verdict = (
            f"{fixed:.0f} ms, more than 3× dbmate ({3 * d:.0f} ms) before reading a file or connecting: within 3× "
            "of dbmate is out of reach for a CPython CLI that uses psycopg"
            if fixed > 3 * d
            else f"{fixed:.0f} ms of the {3 * d:.0f} ms that 3× dbmate allows"
        )
        lines.append(
            f"* *dbmate* is one static Go binary: its whole no-op takes {d:.0f} ms. Starting CPython "
            f"(`python -c pass`: {floor:.0f} ms) and importing psycopg ({imp['psycopg_ms']:.0f} ms by `-X importtime`) "
            f"alone take {verdict}. Our imports in all: {imp['total_ms']:.0f} ms (`-X importtime` slows what it "
            "measures somewhat); `python -c 'import psycopg'` as a "
            f"whole process (with the interpreter's exit) {psy:.0f} ms; our `--help` (no psycopg) {helptime:.0f} ms."
        )
    for peer in peers.PYTHON_PEERS:
        slow = [s for s in sizes if (ratio(ours[s], data["sizes"][s][peer]["wall_ms"]["median"]) or 0) >= 1]
        for s in slow:
            row = data["sizes"][s]
            ph = row[peers.OURS]["phases_ms"]
            mine, theirs = row[peers.OURS]["wall_ms"], row[peer]["wall_ms"]
            tie = overlap(mine, theirs)
            linear = ph["scan_ms"] + ph["rows_ms"] + ph["first_ms"]
            lines.append(
                f"* *{peer} at {int(s):,} migrations*: {theirs['median']:.0f} ms ({row[peer]['statements']} "
                f"statements, CPU {row[peer]['cpu_ms']['median']:.0f} ms) against our {mine['median']:.0f} ms "
                f"({row[peers.OURS]['statements']} statements, CPU {row[peers.OURS]['cpu_ms']['median']:.0f} ms)"
                + ("; the two ranges (min–p90) overlap, so this is a tie within this run's noise. " if tie else ". ")
                + f"Both pay the interpreter and the psycopg import (`python -c 'import psycopg'`: {psy:.0f} ms). "
                f"Of our time, {linear:.0f} ms is work {peer} does not do and that grows with N: scanning and hashing "
                f"the files ({ph['scan_ms']:.0f} ms), reading the tracking rows with their recorded effects "
                f"({ph['rows_ms']:.0f} ms) and the desync check ({ph['first_ms']:.0f} ms); {peer} lists its files and "
                f"reads the applied ids. The rest is fixed: our imports ({imp['total_ms']:.0f} ms by `-X importtime`, "
                f"psycopg {imp['psycopg_ms']:.0f} and click {imp['click_ms']:.0f} of them) and the interpreter's exit."
            )
    if growth is not None and growth > 1.15:
        a, b = sizes[0], sizes[-1]
        per_k = (ours[b] - ours[a]) / ((int(b) - int(a)) / 1000)
        pa, pb = data["sizes"][a][peers.OURS]["start_ms"], data["sizes"][b][peers.OURS]["start_ms"]
        grew = {k: pb[k] - pa[k] for k in ("stat_ms", "proof_ms")}
        lines.append(
            f"* *flat in N*: the round trips are constant, but the wall time grows {per_k:.1f} ms per 1,000 "
            f"migrations. From {int(a):,} to {int(b):,}: the stat of every file in the folder "
            f"+{grew['stat_ms']:.1f} ms (one `stat` system call per file, so that an edited file is never missed), "
            f"the proof's two statements +{grew['proof_ms']:.1f} ms (the server digests every tracking row); "
            "the rest is a larger folder listing and exit."
        )
    if len(lines) == 2:
        lines.append("* none missed.")
    return lines


def render_apply(data: dict[str, Any], head: list[dict[str, str]]) -> list[str]:
    tools = data["tools"]
    floor = tools[peers.PSQL]["wall_s"]["median"]
    ours = tools[peers.OURS]["wall_s"]["median"]
    lines = [
        "## 2. Apply from scratch",
        "",
        f"{data['migrations']:,} migrations applied to an empty database, {data['runs']} runs each (a fresh "
        "database every time).",
        "",
        "| tool | median s | min s | max s | × psql | ours / tool | client CPU s | peak RSS MiB | statements sent |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for tool, r in tools.items():
        w = r["wall_s"]
        lines.append(
            f"| {tool} | {w['median']:.3f} | {w['min']:.3f} | {w['max']:.3f} | {fx(ratio(w['median'], floor), 1)} "
            f"| {fx(ratio(ours, w['median']))} | {r['cpu_s']['median']:.2f} | {mib(r['rss_mib'])} "
            f"| {r['statements']:,} |"
        )
    r = ratio(ours, floor)
    head.append(
        {
            "scenario": "2. apply from scratch",
            "measure": f"ours / psql, {data['migrations']:,} migrations",
            "result": f"{fx(r, 1)} ({ours:.2f} s vs {floor:.2f} s)",
            "target": "≤ 1.3×",
            "verdict": met(r is not None and r <= 1.3),
        }
    )
    prof = data["profile"]
    o = tools[peers.OURS]
    n = data["migrations"]
    own = tools[peers.PSQL]["statements"]
    lines += [
        "",
        "**Where our time goes** (from the measurements; the profile is one cProfile'd run, which inflates "
        "Python time about 2×):",
        "",
        f"* round trips: we send {o['statements']:,} statements, {(o['statements'] - own) / n:.1f} per "
        f"migration beyond the migration's own (psql sends just those {own:,}): the transaction and the "
        "tracking, audit and session bookkeeping around each migration (the list below); "
        f"on loopback each costs little, over a network each adds a round trip time.",
        f"* client CPU: {o['cpu_s']['median']:.2f} s of our {ours:.2f} s wall is our own process's CPU "
        f"(psql: {tools[peers.PSQL]['cpu_s']['median']:.2f} s); the rest is waiting on the server.",
        f"* in the profile ({prof['profiled_total_s']} s in all): parsing SQL with pglast "
        f"({prof['parse_statements_calls']:,} `parse_statements` calls for {n:,} files: "
        f"{prof['parse_statements_calls'] / n:.0f} per file) {prof['parse_statements_s']} s; the driver's "
        f"`execute` {prof['psycopg_execute_s']} s.",
        "",
        "| our heaviest functions (cProfile, cumulative) | calls | s |",
        "|---|---:|---:|",
        *(f"| `{t['function']}` | {t['calls']:,} | {t['cumulative_s']} |" for t in prof["top"]),
        "",
        "<details><summary>our first statements of the apply (server log)</summary>",
        "",
        *(f"{i}. `{q.replace('|', '¦')}`" for i, q in enumerate(o["statements_first_migrations"], 1)),
        "",
        "</details>",
        "",
        "![apply from scratch](report/apply_from_scratch.png)",
        "",
    ]
    return lines


def render_rolling(data: dict[str, Any], head: list[dict[str, str]]) -> list[str]:
    n, p = data["processes"], data["pending"]
    lines = [
        "## 3. Rolling update",
        "",
        f"{data['base']} migrations applied, {p} pending, {n} processes of the tool started at once; "
        f"{data['reps']} repetition(s). *committed* counts the `bench_runs` rows each pending migration left "
        "(its transaction committed); *attempts* counts how often its `INSERT` reached the server (server log), "
        "committed or rolled back. *restart* is one more run of the tool afterwards (a pod restarting). "
        "Twice: with the usual schema migrations (every one also inserts its `bench_runs` row), and with "
        "data-only migrations (just that `INSERT`: nothing in the catalog to collide on).",
        "",
    ]
    titles = {"tools": "Schema migrations (the usual cycle)", "data_tools": "Data-only migrations"}
    for key, title in titles.items():
        if key in data:
            lines += [f"### {title}", "", *rolling_table(data[key], n, p)]
    ours = [r for key in titles if key in data for r in data[key][peers.OURS]]
    good = all(r["failed"] == 0 and r["committed"]["exactly_once"] == p for r in ours)
    head.append(
        {
            "scenario": "3. rolling update",
            "measure": f"ours, {n} processes × {p} pending: failures; migrations committed exactly once",
            "result": " · ".join(
                f"{'data-only' if key == 'data_tools' else 'schema'}: {rolling_result(data[key][peers.OURS], n, p)}"
                for key in titles
                if key in data
            ),
            "target": f"0 failures, {p}/{p} exactly once",
            "verdict": met(good),
        }
    )
    for tool in data["tools"]:
        if tool == peers.OURS:
            continue
        head.append(
            {
                "scenario": "3. rolling update",
                "measure": f"{tool}: what happened",
                "result": " · ".join(
                    f"{'data-only' if key == 'data_tools' else 'schema'}: {rolling_result(data[key][tool], n, p)}"
                    for key in titles
                    if key in data
                ),
                "target": "(reported)",
                "verdict": "—",
            }
        )
    lines += ["![rolling update](report/rolling_update.png)", ""]
    return lines


def rolling_table(tools: dict[str, list[dict[str, Any]]], n: int, p: int) -> list[str]:
    lines = [
        "| tool | failed processes | wall s (median) | committed exactly once / never / twice+ | "
        "attempts: max per migration | tracked after | restart: exit, committed once / never / twice+ |",
        "|---|---:|---:|---|---:|---|---|",
    ]
    for tool, reps in tools.items():
        failed = "/".join(str(r["failed"]) for r in reps)
        wall = statistics.median(r["wall_s"] for r in reps)
        committed = "; ".join(
            f"{r['committed']['exactly_once']} / {r['committed']['never']} / {r['committed']['more_than_once']}"
            for r in reps
        )
        attempts = "/".join(str(r["attempts"]["max"]) for r in reps)
        tracked = "/".join(f"{r['tracked_after_wave']}" for r in reps)
        restart = "; ".join(
            f"{r['restart_exit']}, {r['after_restart']['exactly_once']} / {r['after_restart']['never']} / "
            f"{r['after_restart']['more_than_once']}"
            for r in reps
        )
        lines.append(
            f"| {tool} | {failed} of {n} | {wall:.2f} | {committed} | {attempts} | {tracked} (want "
            f"{reps[0]['expected_tracked']}) | {restart} |"
        )
    lines += ["", "What each tool did (errors of the failed processes, counted over the repetitions):", ""]
    for tool, reps in tools.items():
        errors: Counter[str] = Counter()
        for r in reps:
            errors.update(r["errors"])
        summary = describe_rolling(tool, reps, n, p)
        lines.append(f"* **{tool}**: {summary}")
        for text, count in errors.most_common(4):
            lines.append(f"  * {count}× `{text.replace('|', '¦')}`")
    twice = [t for t, reps in tools.items() if any(r["committed"]["more_than_once"] for r in reps)]
    crashed = [t for t, reps in tools.items() if any(r["failed"] for r in reps)]
    if twice:
        lines += ["", f"**Committed a migration more than once: {', '.join(twice)}.**"]
    elif crashed:
        lines += [
            "",
            f"No tool committed a migration twice here; {', '.join(crashed)} did not wait either: a second process "
            "running the same migration failed inside its transaction (on a catalog entry or a tracking row the "
            "first had just taken) and rolled back. A pod doing that exits non-zero and is restarted "
            "(CrashLoopBackOff until the first one finishes).",
        ]
    lines.append("")
    return lines


def rolling_result(reps: list[dict[str, Any]], n: int, p: int) -> str:
    """One headline cell for a tool's repetitions: failures, migrations committed once / twice+, restart."""

    def each(values: list[int]) -> str:
        return "/".join(map(str, values))

    restart = "restart exits 0" if all(r["restart_exit"] == 0 for r in reps) else "**restart fails**"
    return (
        f"failed {each([r['failed'] for r in reps])} of {n}; committed exactly once "
        f"{each([r['committed']['exactly_once'] for r in reps])} of {p}, twice+ "
        f"{each([r['committed']['more_than_once'] for r in reps])}; {restart}"
        + (f" ({len(reps)} reps)" if len(reps) > 1 else "")
    )


def describe_rolling(tool: str, reps: list[dict[str, Any]], n: int, p: int) -> str:
    failed = sum(r["failed"] for r in reps)
    twice = sum(r["committed"]["more_than_once"] for r in reps)
    never = sum(r["committed"]["never"] for r in reps)
    resent = max(r["attempts"]["max"] for r in reps)
    nature = {
        peers.OURS: "takes a PostgreSQL advisory lock; the others wait for it, then find nothing pending.",
        peers.ALEMBIC: "has no lock: each process that finds work pending runs the upgrade (all pending "
        "migrations in one transaction, its default); nothing stops two from running it at once.",
        peers.YOYO: "takes a lock row in `yoyo_lock` (polled every 0.5 s, 10 s timeout by default).",
        peers.DBMATE: "as installed, no lock (`--migration-lock` is off by default): each process that finds "
        "work pending runs it, one transaction per file.",
        peers.DBMATE_LOCK: "with `--migration-lock`: an advisory lock around the migration.",
    }[tool]
    parts = [nature]
    parts.append(f"{failed} of {n * len(reps)} processes failed" if failed else "no process failed")
    if twice:
        parts.append(f"{twice} migration(s) committed more than once")
    if never:
        parts.append(f"{never} migration(s) left unapplied after the wave")
    if resent > 1:
        parts.append(f"a migration's statements reached the server up to {resent} times")
    if any(r["restart_exit"] != 0 for r in reps):
        parts.append("the restart failed too: " + next(r["restart_error"] for r in reps if r["restart_exit"]))
    rest = "; ".join(parts[1:])
    return f"{parts[0]} {rest[:1].upper()}{rest[1:]}."


def render_external(data: dict[str, Any], head: list[dict[str, str]]) -> list[str]:
    lines = ["## 4. Writer stall and backfill", ""]
    titles = {"writer_stall": "Writer stall (`bench/writer_stall.py`)", "backfill": "Backfill (`bench/backfill.py`)"}
    for name in EXTERNAL:
        entry = data.get(name)
        if not isinstance(entry, dict):
            continue
        rows = f"{entry['rows']:,}" if isinstance(entry.get("rows"), int) else "?"
        lines += [f"### {titles.get(name, name)}", "", f"`{entry['command']}`: exit {entry['exit_code']}, "
                  f"{entry['duration_s']} s, {rows} rows.", ""]  # fmt: skip
        if entry.get("markdown"):
            lines += [entry["markdown"].strip(), ""]
        if entry.get("error"):
            lines += ["```", entry["error"], "```", ""]
        if entry.get("plot"):
            lines += [f"![{name}]({entry['plot']})", ""]
        measure = {
            "writer_stall": "longest write under `up` ≤ lock_timeout + 250 ms",
            "backfill": "backfill ≥ 50% of one UPDATE's rows/s, writers' p99 < 50 ms",
        }.get(name, name)
        head.append(
            {
                "scenario": "4. " + name.replace("_", " "),
                "measure": measure + f" ({rows} rows)",
                "result": external_result(name, entry),
                "target": "as in the script",
                "verdict": met(entry.get("target_met")) if entry.get("exit_code") == 0 else "**failed to run**",
            }
        )
    return lines


def external_result(name: str, entry: dict[str, Any]) -> str:
    """The headline numbers of writer_stall.py / backfill.py from their JSON."""
    res = entry.get("results") or {}
    try:
        if name == "writer_stall":
            return (
                f"longest write: `up` {res['up']['max_ms']:,.0f} ms, psql {res['psql']['max_ms']:,.0f} ms "
                f"(limit {entry['summary']['target_ms']:,} ms)"
            )
        if name == "backfill":
            return (
                f"rows/s {entry['summary']['throughput_ratio']:.2f}× one UPDATE; writers' p99 "
                f"{res['backfill']['p99_ms']:,.1f} ms (one UPDATE: {res['single']['p99_ms']:,.0f} ms)"
            )
    except (KeyError, TypeError, ValueError):
        pass
    return "see §4"


def render_desync(data: dict[str, Any], head: list[dict[str, str]]) -> list[str]:
    lines = [
        "## 5. Desync check cost",
        "",
        "The check every `up` runs (tracking rows against the live catalog): `verify.read(...).classify` timed in a "
        "process (first call: what `up` pays; warm: repeated in the same process), the catalog snapshot query "
        "alone, and whole no-op `up` and `scrydon-migrate verify` processes. Medians, ms.",
        "",
        "| schema | catalog objects | relations | check, first call | check, warm | snapshot query | classify "
        "| whole `up` | whole `verify` |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for label, c in data["cases"].items():
        lines.append(
            f"| {label} | {c['catalog_objects']:,} | {c['relations']:,} | {c['check_first_ms']['median']} | "
            f"{c['check_warm_ms']['median']} | {c['snapshot_ms']['median']} | {c['classify_ms']['median']} | "
            f"{c['up_ms']['median']} | {c['verify_ms']['median']} |"
        )
    big = list(data["cases"].values())[-1]
    small = next(iter(data["cases"].values()))
    first = big["check_first_ms"]["median"]
    head.append(
        {
            "scenario": "5. desync check",
            "measure": f"check inside `up`, {big['migrations']:,} migrations, {big['catalog_objects']:,} objects",
            "result": f"{first} ms (whole `up` {big['up_ms']['median']} ms vs {small['up_ms']['median']} ms on "
            f"{small['catalog_objects']} objects)",
            "target": "< 100 ms",
            "verdict": met(first < 100),
        }
    )
    lines += ["", "![desync check](report/desync_check.png)", ""]
    return lines


def render_memory(data: dict[str, Any], head: list[dict[str, str]]) -> list[str]:
    size = str(max(int(s) for s in data["sizes"]))
    row = data["sizes"][size]
    lines = [
        "## 6. Memory",
        "",
        f"Peak RSS of one process (`/usr/bin/time -f %M`: the maximum resident set size of the tool's own "
        f"process), {int(size):,} migrations: applying them all to an empty database, and the no-op run after.",
        "",
        "| tool | apply from scratch MiB | no-op MiB |",
        "|---|---:|---:|",
        *(f"| {t} | {mib(row[t]['apply_rss_mib'])} | {mib(row[t]['rss_mib'])} |" for t in TOOLS),
        "",
        "![memory](report/memory.png)",
        "",
    ]
    head.append(
        {
            "scenario": "6. memory",
            "measure": f"ours, peak RSS, {int(size):,} migrations: apply / no-op",
            "result": f"{mib(row[peers.OURS]['apply_rss_mib'])} / {mib(row[peers.OURS]['rss_mib'])} MiB ("
            + ", ".join(f"{t} {mib(row[t]['apply_rss_mib'])} / {mib(row[t]['rss_mib'])}" for t in TOOLS[1:])
            + ")",
            "target": "(reported)",
            "verdict": "—",
        }
    )
    return lines


def method_text(plan: dict[str, Any]) -> list[str]:
    return [
        "* **Identical SQL.** `bench/peers.py` generates every migration set: a cycle of `CREATE TABLE` (identity "
        "key, 4 columns, a `COMMENT`), `ALTER TABLE ... ADD COLUMN` ×2, a plain `CREATE INDEX` and a PL/pgSQL "
        "`CREATE FUNCTION`; the same statements in each tool's format (Alembic: one `op.execute` per statement in "
        "revision files chained by `down_revision`, the generic template's `env.py`; yoyo: `.sql` files; dbmate: "
        "`-- migrate:up` files; psql: all files concatenated, one session, `ON_ERROR_STOP=1`).",
        "* **Whole processes**, as a pod or a job runs them: `python -m scrydon_migrate up --service platform`, "
        "`alembic -c alembic.ini upgrade head`, "
        "`yoyo apply --batch --no-config-file --database postgresql+psycopg://…`, "
        "`dbmate --no-dump-schema up` (its `up` also checks that the database exists), `psql -X -q -f`. Wall time "
        "from spawn to exit (`time.perf_counter`), CPU time from `os.wait4`, peak RSS from `/usr/bin/time -f %M` "
        "(a child forked from the harness would inherit its high-water mark).",
        "* **Fairness.** Each tool gets its own fresh database per measurement; the tools are interleaved "
        "round-robin within each repetition; two untimed warm-ups before the timed no-op runs (Python byte code, "
        "Alembic's compiled revision files, the OS page cache); Alembic runs the whole upgrade in one transaction "
        "(its default), the others one transaction per migration, psql autocommits each statement.",
        "* **Round trips** are counted on the server: `log_statement = all` and `log_connections` are switched on "
        "(`ALTER SYSTEM`, reload) only around one extra, untimed run; each `LOG:  statement:` (simple protocol) or "
        "`LOG:  execute` (extended protocol) line is one round trip. A multi-statement simple query (dbmate sends a "
        "whole file at once) counts as one.",
        "* **Rolling update**: every migration also inserts a row into `bench_runs`, created before the tools "
        "run, so a committed application leaves exactly one row whatever the tool records.",
        f"* **Sizes** in this run: no-op at {', '.join(f'{s:,}' for s in plan['noop_sizes'])}; apply "
        f"{plan['apply_size']:,}; rolling {plan['rolling_procs']} processes × {plan['rolling_pending']} pending on "
        f"{plan['rolling_base']} applied; desync {plan['desync_migrations']:,} migrations.",
        "* **Caveats.** 2 CPUs shared by client and server (and by whatever else ran: see the load average); fsync "
        "off on tmpfs, so commits are cheap and the apply floor is as low as it gets; the package is installed "
        "editable; no network latency (loopback), which flatters tools that make many round trips.",
        "",
    ]


# --------------------------------------------------------------------------- main


def _raise_on_sigterm(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def attempt(results: dict[str, Any], key: str, fn: Callable[[], dict[str, Any]]) -> None:
    began = time.monotonic()
    load = loadavg()
    try:
        results[key] = fn()
        results[key]["duration_s"] = round(time.monotonic() - began)
        results[key]["loadavg_start"] = load
    except KeyboardInterrupt:
        raise
    except Exception as exc:
        log(f"{key} failed: {exc}")
        results[key] = {"error": f"{type(exc).__name__}: {str(exc)[:1500]}", "traceback": traceback.format_exc()}


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes and fewer runs: a few minutes")
    parser.add_argument("--runs", type=int, default=0, help="timed runs per no-op measurement (default 15; quick 5)")
    parser.add_argument("--apply-runs", type=int, default=0, help="runs per tool of the apply (default 5; quick 3)")
    parser.add_argument("--only", default=",".join(SCENARIOS), help=f"comma-separated subset of {','.join(SCENARIOS)}")
    parser.add_argument("--skip-external", action="store_true", help="don't run writer_stall.py and backfill.py")
    parser.add_argument("--render", type=Path, help="only rewrite REPORT.md and the plots from this results JSON")
    options = parser.parse_args()
    if options.render:
        results = json.loads(options.render.read_text())
        out_dir = RESULTS / ("run_all_quick" if results["plan"]["quick"] else "run_all")
        out_dir.mkdir(parents=True, exist_ok=True)
        REPORT_DIR.mkdir(exist_ok=True)
        return publish(results, out_dir, options.render)
    only = {s.strip() for s in options.only.split(",") if s.strip()}
    if not only <= set(SCENARIOS):
        parser.error(f"--only takes {', '.join(SCENARIOS)}")
    if options.skip_external:
        only.discard("external")
    plan = make_plan(options)
    signal.signal(signal.SIGTERM, _raise_on_sigterm)
    began = time.monotonic()
    name = "run_all_quick" if plan.quick else "run_all"
    out_dir = RESULTS / name
    out_dir.mkdir(parents=True, exist_ok=True)
    if only != set(SCENARIOS):
        OUTPUT.update(report=out_dir / "REPORT.md", plots=out_dir / "report")
        log(f"a partial run: the report goes to {OUTPUT['report']}, bench/REPORT.md stays as it is")
    OUTPUT["plots"].mkdir(parents=True, exist_ok=True)

    results: dict[str, Any] = {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "plan": dataclasses.asdict(plan),
        "machine": machine(),
        "revision": revision(),
        "versions": peers.versions(),
        "loadavg": {"start": loadavg()},
    }
    root = Path(tempfile.mkdtemp(prefix="bench-all-", dir="/dev/shm" if Path("/dev/shm").is_dir() else None))
    who = embedded.run_as()
    if who is not None:  # root: the server runs as postgres/nobody and must own its folder
        os.chown(root, who.uid, who.gid)
    work = Path(tempfile.mkdtemp(prefix="bench-all-work-", dir=root.parent))
    cluster: Cluster | None = None
    try:
        log(f"starting PostgreSQL in {root / 'data'}")
        cluster = Cluster(root)
        results["postgres"] = cluster.info()
        c = cluster
        if "noop" in only:
            attempt(results, "noop", lambda: scenario_noop(c, plan, work))
        if "apply" in only:
            attempt(results, "apply", lambda: scenario_apply(c, plan, work))
        if "rolling" in only:
            attempt(results, "rolling", lambda: scenario_rolling(c, plan, work))
        if "desync" in only:
            attempt(results, "desync", lambda: scenario_desync(c, plan, work))
        cluster.stop()
        cluster = None
        if "external" in only:
            attempt(results, "external", lambda: scenario_external(plan, out_dir))
    finally:
        if cluster is not None:
            cluster.stop()
        shutil.rmtree(root, ignore_errors=True)
        shutil.rmtree(work, ignore_errors=True)

    results["loadavg"]["end"] = loadavg()
    results["duration_s"] = round(time.monotonic() - began)
    (RESULTS / f"{name}.json").write_text(json.dumps(results, indent=2, default=str) + "\n")
    return publish(results, out_dir, RESULTS / f"{name}.json")


def publish(results: dict[str, Any], out_dir: Path, path: Path) -> int:
    """Plots, REPORT.md and the headline table on stdout, from the results (also re-run by ``--render``)."""
    plots = {
        "noop": plot_noop,
        "apply": plot_apply,
        "rolling": plot_rolling,
        "desync": plot_desync,
    }
    for key, fn in plots.items():
        if key in results and "error" not in results[key]:
            fn(results[key], out_dir)
    if "noop" in results and "error" not in results["noop"]:
        plot_memory(results["noop"], out_dir)
    report, head = render(results)
    results["headline"] = head
    path.write_text(json.dumps(results, indent=2, default=str) + "\n")
    OUTPUT["report"].write_text(report)
    print("| scenario | measure | result | target | verdict |\n|---|---|---|---|---|")
    for h in head:
        print(f"| {h['scenario']} | {h['measure']} | {h['result']} | {h['target']} | {h['verdict']} |")
    log(f"wrote {OUTPUT['report']} and {path} ({results['duration_s'] / 60:.1f} min of measurements)")
    failed = [k for k in SCENARIOS if isinstance(results.get(k), dict) and "error" in results[k]]
    if failed:
        log(f"failed scenarios: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
