"""The whole command line, fuzzed: files, TOML, environment, flags and commands never give a traceback.

Hypothesis draws a migrations folder (names and bytes), a config file, ``MIGRATE_*`` variables
and a command with flags, and runs the real CLI entry point in this process against a real
database (one database for the whole run, so the state it reaches carries over, as on a
real install). Every run must end with a documented exit code, never 70, and a run that
exits 3 (bad configuration or files) must leave the database exactly as it found it.

The CLI runs in-process so that 2,000 examples fit in the default run; each still parses
its own argv and environment and connects for real.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import sys
import tempfile
from pathlib import Path

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scrydon_migrate import cli as cli_module
from scrydon_migrate import config
from scrydon_migrate.errors import ExitCode
from tests.unit.test_bad_input_properties import contents, names

EXAMPLES = int(os.environ.get("MIGRATE_FUZZ_EXAMPLES", "2000"))
DOCUMENTED = {int(code) for code in ExitCode} - {int(ExitCode.INTERNAL)}

GOOD_FILES = {
    "0001_create.sql": b"CREATE TABLE organisations (id bigint PRIMARY KEY, name text);",
    "0002_region.sql": b"ALTER TABLE organisations ADD COLUMN region text NULL;",
    "0003_index.sql": b"-- migrate:no-transaction\nCREATE INDEX CONCURRENTLY organisations_name_idx"
    b" ON organisations (name);",
}

odd_numbers = st.one_of(
    st.integers(min_value=-5, max_value=2**64).map(str),
    st.sampled_from(["²", "１２", "٣", "1e3", "-0", " 7 ", "", "inf", "nan", "0x10", "3000000000"]),
    st.text(max_size=8),
)
#: Waits are drawn from short or invalid values only: a valid long one would just wait, as asked.
waits = st.dictionaries(
    st.sampled_from(["MIGRATE_LOCK_WAIT", "MIGRATE_WAIT_FOR_DB"]),
    st.sampled_from(["0", "0.2", "-1", "x", "²", "１", "inf", "nan", "1e3", ""]),
    max_size=2,
)
environment = st.dictionaries(
    st.sampled_from(
        [
            "MIGRATE_LOCK_TIMEOUT_MS",
            "MIGRATE_LOCK_RETRIES",
            "MIGRATE_LARGE_TABLE_ROWS",
            "MIGRATE_LARGE_TABLE_BYTES",
            "MIGRATE_ALLOW_OUT_OF_ORDER",
            "MIGRATE_REPAIR_TRACKING",
            "MIGRATE_SERVICE",
            "MIGRATE_APPLICATION_NAME",
            "MIGRATE_LOG_FORMAT",
            "MIGRATE_JSON",
            "MIGRATE_OPERATOR",
            "MIGRATE_SNAPSHOT_TO",
        ]
    ),
    st.one_of(odd_numbers, st.sampled_from(["platform", "agentic,platform", "nope", "1", "true", "json", "x"])).map(
        lambda value: value.replace("\x00", "")
    ),  # an environment variable can't hold a NUL
    max_size=4,
)
toml_values = st.one_of(
    st.integers(min_value=-(2**63), max_value=2**63).map(str),
    st.sampled_from(['"²"', "true", "1.5", "inf", "nan", '"x"', "[1]", "{ a = 1 }", '"postgresql://u:p@h/db"']),
)
toml_file = st.one_of(
    st.none(),
    st.text(max_size=120),
    st.lists(
        st.tuples(
            st.sampled_from(
                [
                    "lock_timeout_ms",
                    "lock_retries",
                    "large_table_rows",
                    "allow_out_of_order",
                    "migration_url",
                    "tracking_table",
                    "unknown_key",
                ]
            ),
            toml_values,
        ),
        max_size=4,
    ).map(lambda pairs: "".join(f"{k} = {v}\n" for k, v in pairs)),
)
files = st.dictionaries(
    st.one_of(st.sampled_from(sorted(GOOD_FILES)), names),
    st.one_of(st.sampled_from(sorted(GOOD_FILES.values())), contents),
    max_size=4,
)
commands = st.one_of(
    st.sampled_from(
        [
            ["up"],
            ["up", "--json"],
            ["status"],
            ["status", "--json", "--exit-code"],
            ["history"],
            ["verify"],
            ["doctor"],
            ["lint"],
            ["config"],
            ["audit", "--json"],
            ["backfill", "status"],
        ]
    ),
    st.tuples(st.integers(min_value=0, max_value=5), st.sampled_from(["done by hand", " ", "ok"])).map(
        lambda t: ["mark-applied", "--version", str(t[0]), "--reason", t[1]]
    ),
)
flags = st.lists(
    st.one_of(
        st.tuples(st.just("--lock-timeout-ms"), st.integers(min_value=0, max_value=2**40).map(str)),
        st.tuples(st.just("--lock-wait"), st.sampled_from(["0", "0.5", "-1", "x"])),
        st.tuples(st.just("--large-table-rows"), st.integers(min_value=0, max_value=2**70).map(str)),
    ),
    max_size=2,
)


def _fingerprint(url: str) -> str:
    """Every relation of the database and every tracking and audit row: what a run could have written."""
    with psycopg.connect(url, autocommit=True) as conn:
        relations = conn.execute(
            "SELECT coalesce(string_agg(oid::text || ':' || relname, ',' ORDER BY oid), '') FROM pg_class"
            " WHERE relnamespace = 'public'::regnamespace"
        ).fetchone()[0]
        rows = []
        for table in ("platform_migrations", "platform_migrations_audit"):
            if conn.execute("SELECT to_regclass(%s)", (table,)).fetchone()[0] is not None:
                rows.append(
                    conn.execute(f"SELECT coalesce(json_agg(t ORDER BY 1)::text, '') FROM {table} t").fetchone()
                )
    return json.dumps([relations, rows], default=str)


def _run(args: list[str], env: dict[str, str], cwd: Path) -> tuple[int, str]:
    """The CLI's entry point in this process, with its own argv, environment and working folder."""
    saved_env, saved_argv, saved_cwd = dict(os.environ), sys.argv, os.getcwd()
    config._SECRETS.clear()  # each run is its own process in production: no password of an earlier run
    err = io.StringIO()
    os.environ.clear()
    base = {k: v for k, v in saved_env.items() if not k.startswith(("MIGRATE_", "PG"))}
    os.environ.update(base | {"MIGRATE_LOCK_WAIT": "5"} | env)
    os.chdir(cwd)
    sys.argv = ["scrydon-migrate", *args]
    code: object = 0
    try:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
            try:
                cli_module.run()
            except SystemExit as exc:
                code = exc.code
    finally:
        os.environ.clear()
        os.environ.update(saved_env)
        sys.argv = saved_argv
        os.chdir(saved_cwd)
    return (code if isinstance(code, int) else 1), err.getvalue()


@pytest.fixture
def fuzz_url(pg_cluster, db_url):
    if pg_cluster.version < 180000 and os.environ.get("MIGRATE_TEST_PG", "all") == "all":
        pytest.skip("the CLI fuzz runs once, on the embedded PostgreSQL 18")
    return db_url


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    folder=files,
    config=toml_file,
    env=st.tuples(environment, waits).map(lambda pair: pair[0] | pair[1]),
    command=commands,
    extra=flags,
    url_kind=st.sampled_from(["test", "test", "test", "garbage"]),
)
def test_any_command_line_ends_in_a_documented_exit_and_exit_3_writes_nothing(
    fuzz_url, folder, config, env, command, extra, url_kind
):
    with tempfile.TemporaryDirectory(prefix="fuzz-") as root:
        cwd = Path(root)
        migrations = cwd / "migrations" / "platform"
        migrations.mkdir(parents=True)
        for name, data in folder.items():
            if name not in {".", ".."} and "/" not in name:
                (migrations / name).write_bytes(data)
        if config is not None:
            (cwd / "scrydon-migrate.toml").write_text(config)
        url = fuzz_url if url_kind == "test" else "postgresql://u:garbage-secret@127.0.0.1:1/nowhere"
        args = [*command, "--service", "platform", "--database-url", url, "--migrations-dir", str(migrations)]
        args += [part for pair in extra for part in pair]
        before = _fingerprint(fuzz_url)

        code, stderr = _run(args, env, cwd)

        assert code in DOCUMENTED, stderr
        assert "Traceback" not in stderr, stderr
        if code == ExitCode.CONFIG:
            assert _fingerprint(fuzz_url) == before, f"exit 3 wrote to the database: {stderr}"
