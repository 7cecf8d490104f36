"""Bad input, tried systematically: any file name or content ends in a clear SourceError or a migration.

Never another exception (a traceback for the operator), whatever the bytes.
"""

from __future__ import annotations

import string
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scrydon_migrate import source
from scrydon_migrate.config import load_settings
from scrydon_migrate.errors import ConfigError, SourceError

SQL_BITS = [
    "CREATE TABLE t (id int);",
    "SELECT 1;",
    "$$",
    "$tag$",
    "'",
    '"',
    "/*",
    "*/",
    "--",
    "\\set x 1",
    "BEGIN;",
    "COMMIT;",
    "-- migrate:no-transaction",
    "-- migrate:allow require-concurrent-index",
    "-- migrate:backfill b table=t key=id",
    "UPDATE t SET a = 1 WHERE id BETWEEN $1 AND $2;",
    "CREATE INDEX CONCURRENTLY i ON t (a);",
    "DO $$ BEGIN END $$;",
    ";",
    "\n",
    "\x00",
    "é",
]

contents = st.one_of(
    st.binary(max_size=300),
    st.lists(st.sampled_from(SQL_BITS), max_size=12).map(lambda parts: " ".join(parts).encode()),
    st.text(max_size=200).map(lambda t: t.encode("utf-8", "surrogatepass")),
)
names = st.one_of(
    st.from_regex(r"\A[0-9]{1,25}_[a-z_]{1,12}(\.up)?\.sql\Z"),
    st.text(alphabet=string.ascii_letters + string.digits + "._-", min_size=1, max_size=30),
)


@settings(max_examples=400, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=names, data=contents)
def test_any_file_name_and_content_is_a_migration_or_a_clear_source_error(tmp_path: Path, name: str, data: bytes):
    folder = tmp_path / "migrations"
    folder.mkdir(exist_ok=True)
    for old in folder.iterdir():
        old.unlink()
    if name in {".", ".."} or "/" in name:
        return
    (folder / name).write_bytes(data)
    try:
        for found in source.scan("platform", folder):
            source.load(found)
    except SourceError as exc:
        assert exc.message and exc.hint
        assert "file" in exc.fields, "every refusal names the file"


@settings(max_examples=200, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.text(max_size=200))
def test_any_config_file_is_settings_or_a_clear_config_error(tmp_path: Path, data: str):
    config = tmp_path / "scrydon-migrate.toml"
    config.write_text(data)
    try:
        load_settings(config_file=config, env={}, cwd=tmp_path)
    except ConfigError as exc:
        assert exc.message


@settings(max_examples=200, deadline=None, database=None)
@given(
    env=st.dictionaries(
        st.sampled_from(
            [
                "MIGRATE_LOCK_WAIT",
                "MIGRATE_WAIT_FOR_DB",
                "MIGRATE_SERVICE",
                "MIGRATE_LOCK_TIMEOUT_MS",
                "MIGRATE_LOCK_RETRIES",
                "MIGRATE_ALLOW_OUT_OF_ORDER",
                "MIGRATE_REPAIR_TRACKING",
                "DATABASE_URL",
                "MIGRATE_LARGE_TABLE_ROWS",
            ]
        ),
        st.text(max_size=20),
        max_size=4,
    )
)
def test_any_environment_is_settings_or_a_clear_config_error(env: dict[str, str]):
    try:
        load_settings(env=env, cwd=Path("/nonexistent"))
    except ConfigError as exc:
        assert exc.message
