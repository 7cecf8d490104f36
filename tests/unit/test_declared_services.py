"""Services declared in scrydon-migrate.toml: `[[service]]` tables replace Scrydon's five.

Everything goes through ``load_settings(env=..., cwd=tmp_path)``: no real environment, no database.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from scrydon_migrate.config import load_settings
from scrydon_migrate.errors import ConfigError, ExitCode

HARBOR = """
[[service]]
name = "harbor"
database = "registry"
tracking_table = "schema_history"
values_key = "harborCore"
aliases = ["registry"]
owns = "projects, repositories, artifacts"

[[service]]
name = "temporal"
"""


def settings_for(tmp_path: Path, toml: str, **kwargs: object):
    (tmp_path / "scrydon-migrate.toml").write_text(toml, encoding="utf-8")
    kwargs.setdefault("env", {})
    return load_settings(cwd=tmp_path, **kwargs)  # type: ignore[arg-type]


def refusal(tmp_path: Path, toml: str, **kwargs: object) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        settings_for(tmp_path, toml, **kwargs)
    assert caught.value.exit_code is ExitCode.CONFIG
    return caught.value


def test_declared_services_replace_the_built_in_five(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, HARBOR)

    assert [s.name for s in settings.services] == ["harbor", "temporal"]


def test_a_declared_service_has_its_database_tracking_table_values_key_aliases_and_owner(tmp_path: Path) -> None:
    harbor = settings_for(tmp_path, HARBOR).service("harbor")

    assert harbor.spec.database_name == "registry"
    assert harbor.tracking_table == "schema_history"
    assert harbor.spec.values_key == "harborCore"
    assert harbor.spec.owns == "projects, repositories, artifacts"
    assert harbor.migrations_dir == tmp_path / "migrations" / "harbor"


def test_a_declared_service_with_only_a_name_gets_the_runbooks_defaults(tmp_path: Path) -> None:
    temporal = settings_for(tmp_path, HARBOR).service("temporal")

    assert temporal.spec.database_name == "temporal"
    assert temporal.tracking_table == "temporal_migrations"
    assert temporal.spec.values_key == "temporal"


@pytest.mark.parametrize("name", ["harbor", "registry", "harborCore"])
def test_service_flag_takes_a_declared_name_alias_or_values_key(tmp_path: Path, name: str) -> None:
    settings = settings_for(tmp_path, HARBOR, services=[name])

    assert [s.name for s in settings.services] == ["harbor"]


def test_migrate_service_selects_declared_services(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, HARBOR, env={"MIGRATE_SERVICE": "temporal"})

    assert [s.name for s in settings.services] == ["temporal"]


@pytest.mark.parametrize("variable", ["HARBOR_DATABASE_URL", "REGISTRY_DATABASE_URL", "HARBOR_CORE_DATABASE_URL"])
def test_a_declared_service_reads_its_own_url_variables(tmp_path: Path, variable: str) -> None:
    url = "postgresql://harbor@db:5432/registry"
    settings = settings_for(tmp_path, HARBOR, env={variable: url})

    assert settings.service("harbor").database_url == url
    assert settings.service("temporal").database_url is None


def test_a_built_in_service_is_unknown_once_services_are_declared(tmp_path: Path) -> None:
    error = refusal(tmp_path, HARBOR, services=["platform"])

    assert "unknown service 'platform'" in error.message
    assert "harbor, temporal" in (error.hint or "")
    assert "[[service]]" in (error.hint or "")


def test_a_declared_service_takes_its_url_and_folder_from_its_table(tmp_path: Path) -> None:
    toml = '[[service]]\nname = "harbor"\ndatabase_url = "postgresql://h@db/r"\nmigrations_dir = "sql/harbor"\n'
    harbor = settings_for(tmp_path, toml).service("harbor")

    assert harbor.database_url == "postgresql://h@db/r"
    assert harbor.migrations_dir == tmp_path / "sql" / "harbor"


def test_a_services_table_configures_a_declared_service(tmp_path: Path) -> None:
    toml = HARBOR + '[services.temporal]\ndatabase_url = "postgresql://t@db/t"\n'

    assert settings_for(tmp_path, toml).service("temporal").database_url == "postgresql://t@db/t"


def test_a_services_table_for_an_undeclared_service_is_refused(tmp_path: Path) -> None:
    error = refusal(tmp_path, HARBOR + '[services.platform]\ndatabase_url = "postgresql://p@db/auth"\n')

    assert "[services.platform]" in error.message


def test_without_declarations_the_five_built_in_services_exist(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, 'lock_wait_s = 5\n[services.platform]\ndatabase_url = "postgresql://p@db/a"\n')

    assert [s.name for s in settings.services] == ["platform", "agentic", "analytics", "ontology", "cortex"]


def test_config_shows_the_declared_services(tmp_path: Path) -> None:
    document = settings_for(tmp_path, HARBOR).redacted()

    assert [(s["service"], s["values_key"], s["tracking_table"]) for s in document["services"]] == [
        ("harbor", "harborCore", "schema_history"),
        ("temporal", "temporal", "temporal_migrations"),
    ]


@pytest.mark.parametrize(
    ("toml", "says"),
    [
        ('[[service]]\ndatabase = "x"\n', "has no name"),
        ('[[service]]\nname = "1abc"\n', "is not a service name"),
        ('[[service]]\nname = "a b"\n', "is not a service name"),
        ('[[service]]\nname = "harbor"\nschema = "x"\n', "unknown key 'schema'"),
        ('[[service]]\nname = "harbor"\naliases = "reg"\n', "aliases must be a list"),
        ('[[service]]\nname = "harbor"\ndatabase = 5\n', "database"),
        ('service = "harbor"\n', "[[service]] tables"),
        ('[[service]]\nname = "a"\n[[service]]\nname = "a"\n', "both use a"),
        ('[[service]]\nname = "a"\naliases = ["b"]\n[[service]]\nname = "b"\n', "both use b"),
        ('[[service]]\nname = "api-x"\n[[service]]\nname = "api_x"\n', "the variable API_X_DATABASE_URL"),
        (
            '[[service]]\nname = "a"\ntracking_table = "t"\n[[service]]\nname = "b"\ntracking_table = "t"\n',
            "the tracking table 't'",
        ),
    ],
)
def test_a_bad_declaration_is_refused_naming_the_table_and_the_problem(tmp_path: Path, toml: str, says: str) -> None:
    error = refusal(tmp_path, toml)

    assert says in error.message
    assert "scrydon-migrate.toml" in error.message


def test_a_built_in_name_in_the_declared_list_brings_its_built_in_settings(tmp_path: Path) -> None:
    toml = "".join(f'[[service]]\nname = "{n}"\n' for n in ("platform", "ontology")) + '[[service]]\nname = "billing"\n'
    settings = settings_for(tmp_path, toml, services=["auth"], env={"AUTH_DATABASE_URL": "postgresql://p@db/auth"})

    [platform] = settings.services
    assert (platform.name, platform.spec.database_name, platform.spec.values_key) == ("platform", "auth", "auth")
    assert platform.database_url == "postgresql://p@db/auth"
    assert settings_for(tmp_path, toml, services=["apiOntology"]).services[0].name == "ontology"
