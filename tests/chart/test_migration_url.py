"""A separate migration URL: `<key>.database.migrationSecretKey` gives the Job `<SERVICE>_MIGRATION_URL`.

The application's URL may go through a transaction pooler, which `up` refuses; the migration
URL (direct or session-pooled) is then what the tool connects to.
"""

from __future__ import annotations

import pytest

from scrydon_migrate.config import find_service, load_settings
from tests.chart.rendering import VALUES_KEYS, container, env_names, render


@pytest.mark.parametrize("key", VALUES_KEYS)
def test_migration_secret_key_sets_the_migration_url_that_the_tool_uses_first(helm, key, tmp_path):
    spec = find_service(key)
    values = {key: {"database": {"existingSecret": "pg", "secretKey": "pooled", "migrationSecretKey": "direct"}}}
    env = env_names(container(render(helm, values).job(spec.name)))

    migration_var = f"{spec.name.upper()}_MIGRATION_URL"
    assert env[migration_var]["valueFrom"] == {"secretKeyRef": {"name": "pg", "key": "direct"}}
    resolved = {spec.env_names[0]: "postgresql://pgbouncer:6432/db", migration_var: "postgresql://postgres:5432/db"}
    settings = load_settings(services=[spec.name], env=resolved, cwd=tmp_path)
    assert settings.service(spec.name).database_url == "postgresql://postgres:5432/db"


def test_without_migration_secret_key_there_is_no_migration_url(helm):
    env = env_names(container(render(helm).job("platform")))
    assert not [name for name in env if name.endswith("_MIGRATION_URL")]
