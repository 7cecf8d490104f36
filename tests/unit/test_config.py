"""Settings: which database each service uses, where its files are, and which inputs are refused.

Everything goes through ``load_settings(env=..., cwd=tmp_path)``: no real environment, no database.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from scrydon_migrate.config import DEFAULT_LOCK_WAIT_S, SERVICES, Settings, load_settings, redact_url
from scrydon_migrate.errors import ConfigError, ExitCode

ALL_SERVICES = ("platform", "agentic", "analytics", "ontology", "cortex")


def write_toml(folder: Path, text: str, name: str = "scrydon-migrate.toml") -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def url_of(settings: Settings, service: str) -> str | None:
    return settings.service(service).database_url


def config_error(tmp_path: Path, toml: str | None = None, **kwargs: object) -> ConfigError:
    if toml is not None:
        write_toml(tmp_path, toml)
    kwargs.setdefault("env", {})
    with pytest.raises(ConfigError) as caught:
        load_settings(cwd=tmp_path, **kwargs)  # type: ignore[arg-type]
    assert caught.value.exit_code is ExitCode.CONFIG
    return caught.value


# --- database URL precedence ----------------------------------------------------------------------

#: Highest first. Each source's URL names the source, so a wrong pick says which one won.
PRECEDENCE = {
    "platform": ("flag", "PLATFORM_DATABASE_URL", "AUTH_DATABASE_URL", "MIGRATE_DATABASE_URL", "DATABASE_URL"),
    "ontology": ("flag", "ONTOLOGY_DATABASE_URL", "API_ONTOLOGY_DATABASE_URL", "MIGRATE_DATABASE_URL", "DATABASE_URL"),
    "agentic": ("flag", "AGENTIC_DATABASE_URL", "MIGRATE_DATABASE_URL", "DATABASE_URL"),
}
TOML_SOURCES = ("toml-service", "toml-top")


def source_url(source: str) -> str:
    return f"postgresql://{source.lower().replace('_', '-')}@db:5432/app"


def resolve_url(tmp_path: Path, service: str, present: tuple[str, ...], service_table: str | None = None) -> str | None:
    env = {name: source_url(name) for name in present if name.endswith("_URL")}
    toml = []
    if "toml-top" in present:
        toml.append(f'database_url = "{source_url("toml-top")}"')
    if "toml-service" in present:
        toml.append(f'[services.{service_table or service}]\ndatabase_url = "{source_url("toml-service")}"')
    if toml:
        write_toml(tmp_path, "\n".join(toml) + "\n")
    flag = source_url("flag") if "flag" in present else None
    settings = load_settings(services=[service], database_url=flag, env=env, cwd=tmp_path)
    return url_of(settings, service)


@pytest.mark.parametrize(
    ("service", "winner"),
    [(service, index) for service, sources in PRECEDENCE.items() for index in range(len(sources) + len(TOML_SOURCES))],
)
def test_database_url_comes_from_the_highest_source_present(tmp_path: Path, service: str, winner: int) -> None:
    order = PRECEDENCE[service] + TOML_SOURCES
    present = order[winner:]

    assert resolve_url(tmp_path, service, present) == source_url(order[winner])


@pytest.mark.parametrize("service", ALL_SERVICES)
def test_with_no_url_anywhere_a_service_uses_the_embedded_postgresql(tmp_path: Path, service: str) -> None:
    settings = load_settings(services=[service], env={"HOME": "/root", "PGHOST": "db"}, cwd=tmp_path)

    assert url_of(settings, service) is None
    assert settings.service(service).uses_embedded


@pytest.mark.parametrize(
    ("service", "table"),
    [("platform", "auth"), ("ontology", "apiOntology")],
)
def test_a_toml_table_under_the_chart_key_configures_the_service(tmp_path: Path, service: str, table: str) -> None:
    assert resolve_url(tmp_path, service, ("toml-service", "toml-top"), service_table=table) == source_url(
        "toml-service"
    )


def test_a_service_url_variable_does_not_leak_to_other_services(tmp_path: Path) -> None:
    env = {"AUTH_DATABASE_URL": "postgresql://auth@db/auth", "DATABASE_URL": "postgresql://shared@db/app"}

    settings = load_settings(services=["platform", "agentic", "ontology"], env=env, cwd=tmp_path)

    assert url_of(settings, "platform") == "postgresql://auth@db/auth"
    assert url_of(settings, "agentic") == "postgresql://shared@db/app"
    assert url_of(settings, "ontology") == "postgresql://shared@db/app"


def test_blank_environment_variables_are_ignored(tmp_path: Path) -> None:
    write_toml(tmp_path, 'database_url = "postgresql://from-toml@db/auth"\n')
    env = {"PLATFORM_DATABASE_URL": "", "AUTH_DATABASE_URL": "  ", "MIGRATE_DATABASE_URL": "", "DATABASE_URL": " "}

    settings = load_settings(services=["platform"], env=env, cwd=tmp_path)

    assert url_of(settings, "platform") == "postgresql://from-toml@db/auth"


def test_an_empty_database_url_flag_is_refused(tmp_path: Path) -> None:
    error = config_error(tmp_path, database_url="  ")

    assert "--database-url is empty" in error.message
    assert "postgresql://" in error.hint


# --- other settings: flag > environment > TOML > default -----------------------------------------------


@pytest.mark.parametrize(
    ("flag", "env", "toml", "expected"),
    [
        (5.0, "7", 9, 5.0),
        (None, "7", 9, 7.0),
        (None, None, 9, 9.0),
        (None, None, None, DEFAULT_LOCK_WAIT_S),
        (0.0, "7", 9, 0.0),
    ],
)
def test_lock_wait_comes_from_flag_then_environment_then_toml_then_default(
    tmp_path: Path, flag: float | None, env: str | None, toml: int | None, expected: float
) -> None:
    if toml is not None:
        write_toml(tmp_path, f"lock_wait_s = {toml}\n")

    settings = load_settings(lock_wait_s=flag, env={"MIGRATE_LOCK_WAIT": env} if env else {}, cwd=tmp_path)

    assert settings.lock_wait_s == expected


def test_config_file_is_found_in_the_working_directory_or_named_by_migrate_config_or_config(tmp_path: Path) -> None:
    write_toml(tmp_path, "lock_wait_s = 1\n")
    write_toml(tmp_path, "lock_wait_s = 2\n", "from-env.toml")
    write_toml(tmp_path, "lock_wait_s = 3\n", "from-flag.toml")

    found = load_settings(env={}, cwd=tmp_path)
    from_env = load_settings(env={"MIGRATE_CONFIG": "from-env.toml"}, cwd=tmp_path)
    from_flag = load_settings(config_file="from-flag.toml", env={"MIGRATE_CONFIG": "from-env.toml"}, cwd=tmp_path)

    assert (found.lock_wait_s, found.config_file) == (1.0, tmp_path / "scrydon-migrate.toml")
    assert (from_env.lock_wait_s, from_env.config_file) == (2.0, tmp_path / "from-env.toml")
    assert (from_flag.lock_wait_s, from_flag.config_file) == (3.0, tmp_path / "from-flag.toml")


def test_no_config_file_is_fine(tmp_path: Path) -> None:
    settings = load_settings(env={}, cwd=tmp_path)

    assert settings.config_file is None
    assert settings.lock_wait_s == DEFAULT_LOCK_WAIT_S


def test_a_named_config_file_that_does_not_exist_is_refused_naming_it(tmp_path: Path) -> None:
    error = config_error(tmp_path, env={"MIGRATE_CONFIG": "missing.toml"})

    assert str(tmp_path / "missing.toml") in error.message
    assert "does not exist" in error.message
    assert "MIGRATE_CONFIG" in error.hint


# --- services and aliases -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("names", "expected"),
    [
        (["auth"], ("platform",)),
        (["apiOntology"], ("ontology",)),
        (["api-ontology"], ("ontology",)),
        (["platform", "auth"], ("platform",)),
        (["cortex", "auth", "analytics"], ("cortex", "platform", "analytics")),
    ],
)
def test_chart_keys_are_aliases_of_the_services(tmp_path: Path, names: list[str], expected: tuple[str, ...]) -> None:
    settings = load_settings(services=names, env={}, cwd=tmp_path)

    assert tuple(s.name for s in settings.services) == expected


def test_migrate_service_selects_services_by_name_or_chart_key(tmp_path: Path) -> None:
    settings = load_settings(env={"MIGRATE_SERVICE": "auth, apiOntology,agentic"}, cwd=tmp_path)

    assert tuple(s.name for s in settings.services) == ("platform", "ontology", "agentic")


def test_every_service_is_selected_by_default(tmp_path: Path) -> None:
    settings = load_settings(env={}, cwd=tmp_path)

    assert tuple(s.name for s in settings.services) == ALL_SERVICES
    assert tuple(s.name for s in SERVICES) == ALL_SERVICES


def test_settings_find_a_service_by_its_chart_key(tmp_path: Path) -> None:
    settings = load_settings(services=["platform", "ontology"], env={}, cwd=tmp_path)

    assert settings.service("auth").name == "platform"
    assert settings.service("apiOntology").name == "ontology"


@pytest.mark.parametrize("source", ["flag", "env"])
def test_an_unknown_service_is_refused_listing_the_valid_ones(tmp_path: Path, source: str) -> None:
    if source == "flag":
        error = config_error(tmp_path, services=["billing"])
    else:
        error = config_error(tmp_path, env={"MIGRATE_SERVICE": "platform,billing"})

    assert "unknown service 'billing'" in error.message
    for name in ALL_SERVICES:
        assert name in error.hint
    assert "auth" in error.hint and "apiOntology" in error.hint


# --- the TOML file: refusals ---------------------------------------------------------------------------


def test_a_toml_syntax_error_is_refused_naming_the_file(tmp_path: Path) -> None:
    error = config_error(tmp_path, 'lock_wait_s = 30\n[services.platform\ndatabase_url = "x"\n')

    assert str(tmp_path / "scrydon-migrate.toml") in error.message
    assert "not valid TOML" in error.message
    assert "line 2" in error.message
    assert "fix the syntax" in error.hint


@pytest.mark.parametrize(
    ("toml", "key"),
    [
        ("lock_wait = 30\n", "lock_wait"),
        ('databse_url = "postgresql://db/auth"\n', "databse_url"),
        ('[services.platform]\ndatabse_url = "postgresql://db/auth"\n', "databse_url"),
    ],
)
def test_an_unknown_toml_key_is_refused_naming_the_file_and_the_key(tmp_path: Path, toml: str, key: str) -> None:
    error = config_error(tmp_path, toml)

    assert str(tmp_path / "scrydon-migrate.toml") in error.message
    assert "unknown key" in error.message
    assert key in error.message
    assert "database_url" in error.hint


def test_an_unknown_key_in_a_service_table_names_the_table(tmp_path: Path) -> None:
    error = config_error(tmp_path, '[services.platform]\ndatabse_url = "postgresql://db/auth"\n')

    assert "services.platform." in error.message


@pytest.mark.parametrize(
    ("toml", "key", "problem"),
    [
        ('lock_wait_s = "abc"\n', "lock_wait_s", "must be a number of seconds, got 'abc'"),
        ("lock_wait_s = -1\n", "lock_wait_s", "must be zero or more"),
        ("lock_wait_s = nan\n", "lock_wait_s", "must be zero or more"),
        ("wait_for_db_s = [1]\n", "wait_for_db_s", "must be a number of seconds"),
        ('allow_out_of_order = "maybe"\n', "allow_out_of_order", "must be true or false"),
        ("database_url = 5\n", "database_url", "must be a non-empty string"),
        ('database_url = ""\n', "database_url", "must be a non-empty string"),
        ('[services.platform]\ntracking_table = ""\n', "tracking_table", "must be a non-empty string"),
        ("[services.platform]\nmigrations_dir = 7\n", "migrations_dir", "must be a non-empty string"),
        ('application_name = ""\n', "application_name", "must be a non-empty string"),
        ("services = 5\n", "'services'", "must be a table"),
        ('[services]\nplatform = "postgresql://db/auth"\n', "[services.platform]", "must be a table"),
    ],
)
def test_a_toml_value_of_the_wrong_type_is_refused_naming_the_key(
    tmp_path: Path, toml: str, key: str, problem: str
) -> None:
    error = config_error(tmp_path, toml, services=["platform"])

    assert key in error.message
    assert problem in error.message


def test_a_bad_environment_value_is_refused_naming_the_variable(tmp_path: Path) -> None:
    error = config_error(tmp_path, env={"MIGRATE_LOCK_WAIT": "ten minutes"})

    assert "MIGRATE_LOCK_WAIT" in error.message
    assert "'ten minutes'" in error.message


def test_a_boolean_lock_wait_in_toml_is_refused(tmp_path: Path) -> None:
    error = config_error(tmp_path, "lock_wait_s = true\n")

    assert "lock_wait_s" in error.message


def test_a_non_string_migrations_root_is_refused_naming_the_key(tmp_path: Path) -> None:
    error = config_error(tmp_path, "migrations_root = 5\n")

    assert "migrations_root" in error.message


def test_an_unknown_service_table_in_toml_is_refused_naming_the_file(tmp_path: Path) -> None:
    error = config_error(tmp_path, '[services.platfrom]\ndatabase_url = "postgresql://db/auth"\n')

    assert "platfrom" in error.message
    assert str(tmp_path / "scrydon-migrate.toml") in error.message


# --- passwords never shown --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("postgresql://u:secret@h/db", "postgresql://u:***@h/db"),
        (
            "postgres://migrator:s3cr%40t:x@db.internal:5432/auth?sslmode=require",
            "postgres://migrator:***@db.internal:5432/auth?sslmode=require",
        ),
        ("postgresql://:secret@h/db", "postgresql://:***@h/db"),
        ("postgresql://u@h/db", "postgresql://u@h/db"),
        ("postgresql://h:5432/db", "postgresql://h:5432/db"),
        ("postgresql://u@h/db?password=secret", "postgresql://u@h/db?password=***"),
        ("host=db user=u password=secret dbname=auth", "host=db user=u password=*** dbname=auth"),
        ("host=db password = 'se cret' dbname=auth", "host=db password = *** dbname=auth"),
        ("host=db PASSWORD=secret", "host=db PASSWORD=***"),
        ("failed: postgresql://u:secret@h/db refused", "failed: postgresql://u:***@h/db refused"),
    ],
)
def test_redact_url_masks_passwords_in_urls_and_key_value_dsns(text: str, expected: str) -> None:
    assert redact_url(text) == expected


def test_redacted_settings_never_contain_a_password(tmp_path: Path) -> None:
    write_toml(
        tmp_path,
        '[services.agentic]\ndatabase_url = "host=db user=agentic password=t0ml-secret dbname=agentic"\n',
    )
    env = {
        "AUTH_DATABASE_URL": "postgresql://auth:env-secret@db:5432/auth",
        "ONTOLOGY_DATABASE_URL": "postgresql://onto@db/ontology?sslmode=require&password=query-secret",
    }

    settings = load_settings(services=["platform", "agentic", "ontology", "cortex"], env=env, cwd=tmp_path)
    document = json.dumps(settings.redacted())

    assert "env-secret" in (url_of(settings, "platform") or "")  # the settings keep the real URL...
    for secret in ("env-secret", "t0ml-secret", "query-secret"):
        assert secret not in document  # ...the printable document never shows a password
    services = {s["service"]: s["database_url"] for s in settings.redacted()["services"]}
    assert services == {
        "platform": "postgresql://auth:***@db:5432/auth",
        "agentic": "host=db user=agentic password=*** dbname=agentic",
        "ontology": "postgresql://onto@db/ontology?sslmode=require&password=***",
        "cortex": "embedded",
    }


# --- tracking table and migrations folder ---------------------------------------------------------------------


def test_the_tracking_table_defaults_to_service_migrations(tmp_path: Path) -> None:
    settings = load_settings(env={}, cwd=tmp_path)

    assert {s.name: s.tracking_table for s in settings.services} == {
        name: f"{name}_migrations" for name in ALL_SERVICES
    }
    assert settings.service("auth").tracking_table == "platform_migrations"


def test_the_tracking_table_can_be_set_per_service_in_toml(tmp_path: Path) -> None:
    write_toml(tmp_path, '[services.platform]\ntracking_table = "ops.platform_schema_history"\n')

    settings = load_settings(services=["platform", "agentic"], env={}, cwd=tmp_path)

    assert settings.service("platform").tracking_table == "ops.platform_schema_history"
    assert settings.service("agentic").tracking_table == "agentic_migrations"


def test_migrations_default_to_migrations_service_under_the_working_directory(tmp_path: Path) -> None:
    settings = load_settings(env={}, cwd=tmp_path)

    assert {s.name: s.migrations_dir for s in settings.services} == {
        name: tmp_path / "migrations" / name for name in ALL_SERVICES
    }
    assert not any(s.migrations_dir_explicit for s in settings.services)


@pytest.mark.parametrize("how", ["flag", "env"])
def test_migrations_dir_with_one_service_is_that_services_folder(tmp_path: Path, how: str) -> None:
    flag = "db/auth" if how == "flag" else None
    env = {"MIGRATE_MIGRATIONS_DIR": "db/auth"} if how == "env" else {}

    settings = load_settings(services=["auth"], migrations_dir=flag, env=env, cwd=tmp_path)

    assert settings.service("platform").migrations_dir == tmp_path / "db" / "auth"
    assert settings.service("platform").migrations_dir_explicit


@pytest.mark.parametrize("how", ["flag", "env"])
def test_migrations_dir_with_several_services_is_the_root_of_their_folders(tmp_path: Path, how: str) -> None:
    root = tmp_path / "release" / "migrations"
    flag = root if how == "flag" else None
    env = {"MIGRATE_MIGRATIONS_DIR": str(root)} if how == "env" else {}

    settings = load_settings(services=["auth", "apiOntology"], migrations_dir=flag, env=env, cwd=tmp_path)

    assert settings.service("platform").migrations_dir == root / "platform"
    assert settings.service("ontology").migrations_dir == root / "ontology"


def test_the_migrations_dir_flag_wins_over_the_environment(tmp_path: Path) -> None:
    settings = load_settings(
        services=["platform"], migrations_dir="from-flag", env={"MIGRATE_MIGRATIONS_DIR": "from-env"}, cwd=tmp_path
    )

    assert settings.service("platform").migrations_dir == tmp_path / "from-flag"


def test_toml_folders_are_relative_to_the_config_file(tmp_path: Path) -> None:
    config_dir = tmp_path / "deploy"
    config_dir.mkdir()
    write_toml(config_dir, 'migrations_root = "sql"\n[services.cortex]\nmigrations_dir = "cortex-sql"\n', "m.toml")
    work = tmp_path / "work"
    work.mkdir()

    settings = load_settings(services=["platform", "cortex"], config_file=config_dir / "m.toml", env={}, cwd=work)

    assert settings.service("platform").migrations_dir == config_dir / "sql" / "platform"
    assert settings.service("cortex").migrations_dir == config_dir / "cortex-sql"
    assert settings.service("cortex").migrations_dir_explicit
