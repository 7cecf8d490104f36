"""Numeric settings take ASCII digits within what PostgreSQL stores, else a clear CONFIG error (exit 3)."""

from __future__ import annotations

import pytest

from scrydon_migrate.config import load_settings
from scrydon_migrate.errors import ConfigError, ExitCode


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"MIGRATE_LOCK_TIMEOUT_MS": "3000000000"}, "lock_timeout_ms from MIGRATE_LOCK_TIMEOUT_MS must be at most"),
        ({"MIGRATE_LOCK_TIMEOUT_MS": "²"}, "must be a whole number of zero or more (digits 0-9)"),
        ({"MIGRATE_LOCK_RETRIES": "１２"}, "must be a whole number of zero or more (digits 0-9)"),
        ({"MIGRATE_LARGE_TABLE_ROWS": "٣"}, "must be a whole number of zero or more (digits 0-9)"),
        ({"MIGRATE_LARGE_TABLE_BYTES": str(2**63)}, "must be at most 9223372036854775807"),
        ({"MIGRATE_LOCK_WAIT": "１"}, "must be a number of seconds"),
        ({"MIGRATE_WAIT_FOR_DB": "inf"}, "must be a number of seconds"),
    ],
)
def test_bad_numeric_setting_is_a_config_error(tmp_path, env, expected):
    with pytest.raises(ConfigError) as caught:
        load_settings(services=["platform"], env=env, cwd=tmp_path)
    assert expected in caught.value.message
    assert caught.value.exit_code is ExitCode.CONFIG


def test_lock_timeout_ms_flag_above_the_32_bit_range_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="must be at most 2147483647"):
        load_settings(services=["platform"], lock_timeout_ms=2**31, env={}, cwd=tmp_path)


def test_largest_values_postgresql_accepts_are_taken(tmp_path):
    settings = load_settings(
        services=["platform"], env={"MIGRATE_LOCK_TIMEOUT_MS": str(2**31 - 1), "MIGRATE_LOCK_WAIT": "1.5"}, cwd=tmp_path
    )
    assert settings.lock_timeout_ms == 2**31 - 1 and settings.lock_wait_s == 1.5
