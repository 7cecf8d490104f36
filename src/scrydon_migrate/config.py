"""Services and settings: which schema owners exist, where their databases and files are.

Precedence, highest first: command-line flags, environment variables, the TOML file
(``--config``, ``MIGRATE_CONFIG`` or ``./scrydon-migrate.toml``), built-in defaults.
For a service's database URL the environment order is ``<SERVICE>_MIGRATION_URL``, then
``MIGRATE_MIGRATION_URL`` (a direct or session-pooled URL for migrations when the
application's own URL goes through a transaction pooler), then ``<SERVICE>_DATABASE_URL``
(and its chart alias, e.g. ``AUTH_DATABASE_URL``), then ``MIGRATE_DATABASE_URL``,
then ``DATABASE_URL``; in the TOML file ``migration_url`` before ``database_url``. A
service with no URL anywhere uses the embedded PostgreSQL.

The chart's values keys are mapped explicitly: ``auth`` is the platform service and
``apiOntology`` the ontology service (the runbook's names).

The services themselves are Scrydon's five (:data:`SERVICES`) unless the TOML file declares
its own list with ``[[service]]`` tables (name, database, tracking table, chart values key,
aliases, what it owns): then exactly those exist, for ``--service``, ``MIGRATE_SERVICE``,
the ``<SERVICE>_DATABASE_URL`` variables, ``status`` and the rest. A list is declared
whole, never merged with the built-in one, so no service appears that the file does not name.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from scrydon_migrate.errors import ConfigError

DEFAULT_LOCK_WAIT_S = 600.0
DEFAULT_LOCK_TIMEOUT_MS = 2000
DEFAULT_LOCK_RETRIES = 6
#: Longest a statement may hold a write-blocking lock while writers wait (see watchdog.py).
DEFAULT_LOCK_BUDGET_MS = 5000
#: Longest a transactional migration statement may run; concurrent index builds are exempt.
DEFAULT_STATEMENT_TIMEOUT_MS = 3_600_000
DEFAULT_LARGE_TABLE_ROWS = 1_000_000
DEFAULT_LARGE_TABLE_BYTES = 512 * 1024 * 1024
DEFAULT_WAIT_FOR_DB_S = 0.0
DEFAULT_CONFIG_FILE = "scrydon-migrate.toml"
DEFAULT_EMBEDDED_DIR = ".scrydon-migrate"
DEFAULT_MIGRATIONS_ROOT = "migrations"


@dataclass(frozen=True, slots=True)
class ServiceSpec:
    """A schema owner from the runbook's table."""

    name: str
    values_key: str
    database_name: str
    owns: str
    aliases: tuple[str, ...] = ()
    tracking_table: str = ""

    @property
    def default_tracking_table(self) -> str:
        """The declared tracking table, else ``<service>_migrations`` (the runbook's naming)."""
        return self.tracking_table or f"{self.name}_migrations"

    @property
    def env_names(self) -> tuple[str, ...]:
        """Environment variables that hold this service's database URL, most specific first."""
        names = [self.name, *self.aliases]
        return tuple(dict.fromkeys(_env_name(n) + "_DATABASE_URL" for n in names))


def _env_name(name: str) -> str:
    return re.sub(r"(?<=[a-z])(?=[A-Z])|-", "_", name).upper()


SERVICES: tuple[ServiceSpec, ...] = (
    ServiceSpec(
        "platform",
        values_key="auth",
        database_name="auth",
        owns="authentication, organisations, workspaces, audit, secrets metadata",
        aliases=("auth",),
    ),
    ServiceSpec(
        "agentic",
        values_key="agentic",
        database_name="agentic",
        owns="workflows, automations, knowledge bases, chats",
    ),
    ServiceSpec(
        "analytics",
        values_key="analytics",
        database_name="analytics",
        owns="managed-table catalogue, profiles, policy bundles",
    ),
    ServiceSpec(
        "ontology",
        values_key="apiOntology",
        database_name="ontology",
        owns="ontology schema, bindings, branches",
        aliases=("apiOntology", "api-ontology"),
    ),
    ServiceSpec(
        "cortex",
        values_key="cortex",
        database_name="cortex",
        owns="models, embeddings, inference, prompts",
    ),
)


def values_key(service: str) -> str:
    """The chart's values key of a built-in service (``auth`` for platform), for messages naming a chart setting."""
    found = [spec.values_key for spec in SERVICES if service == spec.name or service in spec.aliases]
    return found[0] if found else service


def find_service(name: str, services: Sequence[ServiceSpec] = SERVICES) -> ServiceSpec:
    """The service called ``name`` or one of its aliases (the chart keys ``auth``, ``apiOntology``)."""
    for spec in services:
        if name == spec.name or name in spec.aliases:
            return spec
    known = ", ".join(s.name for s in services)
    aliases = ", ".join(repr(a) for s in services for a in s.aliases if a != s.name)
    raise ConfigError(
        f"unknown service {name!r}",
        hint=f"use one of: {known}"
        + (f" (aliases {aliases} are accepted too)" if aliases else "")
        + ("" if services is SERVICES else "; the services are the [[service]] tables of the config file"),
        service=name,
    )


@dataclass(frozen=True, slots=True)
class ServiceSettings:
    """Everything needed to migrate one service."""

    spec: ServiceSpec
    database_url: str | None
    migrations_dir: Path
    tracking_table: str
    migrations_dir_explicit: bool = False

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def uses_embedded(self) -> bool:
        return self.database_url is None


@dataclass(frozen=True, slots=True)
class Settings:
    """Resolved settings for one command run."""

    services: tuple[ServiceSettings, ...]
    lock_wait_s: float = DEFAULT_LOCK_WAIT_S
    lock_report_every_s: float = 10.0
    wait_for_db_s: float = DEFAULT_WAIT_FOR_DB_S
    allow_out_of_order: bool = False
    repair_tracking: bool = False
    snapshot_to: Path | None = None
    lock_timeout_ms: int = DEFAULT_LOCK_TIMEOUT_MS
    lock_retries: int = DEFAULT_LOCK_RETRIES
    lock_budget_ms: int = DEFAULT_LOCK_BUDGET_MS
    statement_timeout_ms: int = DEFAULT_STATEMENT_TIMEOUT_MS
    large_table_rows: int = DEFAULT_LARGE_TABLE_ROWS
    large_table_bytes: int = DEFAULT_LARGE_TABLE_BYTES
    embedded_dir: Path = Path(DEFAULT_EMBEDDED_DIR)
    application_name: str = "scrydon-migrate"
    config_file: Path | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)
    declared: tuple[ServiceSpec, ...] = SERVICES

    def service(self, name: str) -> ServiceSettings:
        spec = find_service(name, self.declared)
        for svc in self.services:
            if svc.spec is spec:
                return svc
        raise ConfigError(f"service {spec.name!r} is not selected in this run")

    def with_database_url(self, service: str, url: str) -> Settings:
        """A copy where ``service`` connects to ``url`` (used once the embedded server is up)."""
        services = tuple(replace(s, database_url=url) if s.name == service else s for s in self.services)
        return replace(self, services=services)

    def redacted(self) -> dict[str, Any]:
        """The settings as a document safe to print: passwords masked."""
        return {
            "config_file": str(self.config_file) if self.config_file else None,
            "lock_wait_s": self.lock_wait_s,
            "wait_for_db_s": self.wait_for_db_s,
            "allow_out_of_order": self.allow_out_of_order,
            "repair_tracking": self.repair_tracking,
            "lock_timeout_ms": self.lock_timeout_ms,
            "lock_retries": self.lock_retries,
            "lock_budget_ms": self.lock_budget_ms,
            "statement_timeout_ms": self.statement_timeout_ms,
            "large_table_rows": self.large_table_rows,
            "large_table_bytes": self.large_table_bytes,
            "embedded_dir": str(self.embedded_dir),
            "services": [
                {
                    "service": s.name,
                    "owns": s.spec.owns,
                    "values_key": s.spec.values_key,
                    "aliases": list(s.spec.aliases),
                    "database_url": redact_url(s.database_url) if s.database_url else "embedded",
                    "migrations_dir": str(s.migrations_dir),
                    "tracking_table": s.tracking_table,
                }
                for s in self.services
            ],
        }


#: ``scheme://user:password@`` up to the last ``@`` of the token, so a ``/`` or ``@`` in the password is masked.
_URL_PASSWORD = re.compile(r"(://[^:/?#@\s]*:)(\S*)(@)")
_KV_PASSWORD = re.compile(r"(password\s*=\s*)('(?:[^'\\]|\\.)*'|(?:[^\s'\\]|\\.)+)", re.IGNORECASE)
_SECRETS: set[str] = set()
_PENDING: list[str] = []


def register_secret(conninfo: str | None, *, password: str | None = None) -> None:
    """Remember a connection string (or a bare password, e.g. ``PGPASSWORD``) whose password must never show.

    The password is taken out by libpq's own parser (``PQconninfoParse``), lazily, the first
    time something is redacted, so that registering costs nothing on the start-up path.
    """
    if conninfo:
        _PENDING.append(conninfo)
    if password:
        _SECRETS.update(_written_forms(password))


def _known_secrets() -> list[str]:
    """Every way the registered passwords may be written, longest first."""
    while _PENDING:
        for found in _passwords(_PENDING.pop()):
            _SECRETS.update(_written_forms(found))
    return sorted(_SECRETS, key=len, reverse=True)


def _passwords(conninfo: str) -> set[str]:
    """The password libpq reads from ``conninfo``, and for a URL the raw text between ``user:`` and the last ``@``."""
    from scrydon_migrate.libpq import LibpqError, conninfo_values

    found: set[str] = set()
    with contextlib.suppress(LibpqError):  # a string libpq can't parse still has its raw password masked
        password = conninfo_values(conninfo).get("password")
        if password:
            found.add(password)
    _scheme, sep, rest = conninfo.partition("://")
    if sep and "@" in rest:
        userinfo = rest[: rest.rfind("@")]
        if ":" in userinfo:
            found.add(userinfo.split(":", 1)[1])
    return {p for p in found if p}


def _written_forms(password: str) -> set[str]:
    """``password`` as it may appear in output: raw, percent-encoded, quoted for libpq, JSON and Python escapes."""
    import json
    from urllib.parse import quote, quote_plus, unquote

    forms = {password, unquote(password), quote(password, safe=""), quote(password), quote_plus(password)}
    forms |= {f.replace("\\", "\\\\").replace("'", "\\'") for f in list(forms)}
    forms |= {json.dumps(f, ensure_ascii=a)[1:-1] for f in list(forms) for a in (True, False)}
    forms |= {repr(f)[1:-1] for f in list(forms)}
    return {f for f in forms if f}


def redact_url(text: str) -> str:
    """Mask every registered password, and any URL's (``user:***@``) or ``password=`` pair's, in ``text``."""
    for secret in _known_secrets():
        text = text.replace(secret, "***")
    text = _URL_PASSWORD.sub(r"\1***\3", text)
    return _KV_PASSWORD.sub(r"\1***", text)


def redact_document(value: Any) -> Any:
    """``value`` (a JSON-ready document) with :func:`redact_url` applied to every string in it, keys included.

    Redacting the document before it is serialised, never the JSON text, keeps it valid JSON.
    """
    if isinstance(value, str):
        return redact_url(value)
    if isinstance(value, dict):
        return {redact_url(str(k)): redact_document(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact_document(v) for v in value]
    return value


_TOP_KEYS = {
    "allow_out_of_order",
    "database_url",
    "migration_url",
    "migrations_root",
    "lock_wait_s",
    "wait_for_db_s",
    "lock_timeout_ms",
    "lock_retries",
    "lock_budget_ms",
    "statement_timeout_ms",
    "large_table_rows",
    "large_table_bytes",
    "embedded_dir",
    "application_name",
    "services",
    "service",
}
_SERVICE_KEYS = {"database_url", "migration_url", "migrations_dir", "tracking_table"}
_DECLARATION_KEYS = {"name", "database", "values_key", "aliases", "owns"} | _SERVICE_KEYS
_SERVICE_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,62}$")


def _read_toml(path: Path) -> dict[str, Any]:
    import tomllib

    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError as exc:
        raise ConfigError(
            f"config file {str(path)!r} does not exist",
            hint="pass --config with an existing file, or unset MIGRATE_CONFIG",
        ) from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(
            f"config file {str(path)!r} is not valid TOML: {exc}",
            hint="fix the syntax at the position given",
        ) from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"can't read config file {str(path)!r}: {exc}") from exc
    _check_keys(data, _TOP_KEYS, path, "")
    declared = declared_services(data, path)
    services = data.get("services", {})
    if not isinstance(services, dict):
        raise ConfigError(f"config file {str(path)!r}: 'services' must be a table")
    for name, table in services.items():
        try:
            find_service(name, declared)
        except ConfigError as exc:
            raise ConfigError(f"config file {str(path)!r} has [services.{name}]: {exc}", hint=exc.hint) from exc
        if not isinstance(table, dict):
            raise ConfigError(f"config file {str(path)!r}: [services.{name}] must be a table")
        _check_keys(table, _SERVICE_KEYS, path, f"services.{name}.")
    return data


def declared_services(toml: Mapping[str, Any], path: Path | None) -> tuple[ServiceSpec, ...]:
    """The ``[[service]]`` tables of the config file as services, else Scrydon's five."""
    tables = toml.get("service")
    if tables is None:
        return SERVICES
    where = f"config file {str(path)!r}"
    if not isinstance(tables, list) or not tables or not all(isinstance(t, dict) for t in tables):
        raise ConfigError(
            f"{where}: 'service' must be one or more [[service]] tables",
            hint='declare each service as [[service]] with name = "...", or remove the key to use the built-in ones',
        )
    specs: list[ServiceSpec] = []
    for number, table in enumerate(tables, start=1):
        specs.append(_declared_service(table, f"{where}, [[service]] number {number}", path))
    _refuse_name_clashes(specs, where)
    return tuple(specs)


def _declared_service(table: Mapping[str, Any], where: str, path: Path | None) -> ServiceSpec:
    """One ``[[service]]`` table; a built-in service's name brings its built-in database, values key and aliases."""
    unknown = sorted(set(table) - _DECLARATION_KEYS)
    if unknown:
        raise ConfigError(
            f"{where} has unknown key {unknown[0]!r}", hint="allowed keys: " + ", ".join(sorted(_DECLARATION_KEYS))
        )
    if "name" not in table:
        raise ConfigError(f"{where} has no name", hint='give it one: name = "billing"')
    name = _declared_name(table["name"], "name", where)
    built_in = next((spec for spec in SERVICES if spec.name == name), None)
    aliases = table.get("aliases", list(built_in.aliases) if built_in else [])
    if not isinstance(aliases, list):
        raise ConfigError(f"{where}: aliases must be a list of names, got {aliases!r}", hint='aliases = ["bill"]')
    values_key = _declared_name(table.get("values_key", built_in.values_key if built_in else name), "values_key", where)
    return ServiceSpec(
        name=name,
        values_key=values_key,
        database_name=_string(table.get("database", built_in.database_name if built_in else name), "database", where),
        owns=_string(table.get("owns", built_in.owns if built_in else name), "owns", where),
        aliases=tuple(
            dict.fromkeys(a for a in [values_key, *(_declared_name(a, "aliases", where) for a in aliases)] if a != name)
        ),
        tracking_table=_string(table.get("tracking_table", f"{name}_migrations"), "tracking_table", where),
    )


def _declared_name(value: Any, key: str, where: str) -> str:
    if not isinstance(value, str) or not _SERVICE_NAME.match(value):
        raise ConfigError(
            f"{where}: {key} {value!r} is not a service name",
            hint="a name starts with a letter and holds letters, digits, '_' or '-' (at most 63 characters)",
        )
    return value


def _refuse_name_clashes(specs: Sequence[ServiceSpec], where: str) -> None:
    """Two services answering to one name, or sharing a URL variable or tracking table, would mix histories."""
    seen: dict[str, tuple[int, str]] = {}
    for number, spec in enumerate(specs):
        claims = [(n, n) for n in dict.fromkeys((spec.name, *spec.aliases))]
        claims += [(v, f"the variable {v}") for v in spec.env_names]
        claims.append((f"table:{spec.default_tracking_table}", f"the tracking table {spec.default_tracking_table!r}"))
        for key, label in claims:
            other = seen.get(key.lower())
            if other is not None and other[0] != number:
                raise ConfigError(
                    f"{where}: services {other[1]!r} and {spec.name!r} both use {label}",
                    hint="give each service its own name, aliases and tracking table",
                )
            seen[key.lower()] = (number, spec.name)


def _check_keys(table: Mapping[str, Any], allowed: set[str], path: Path, prefix: str) -> None:
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise ConfigError(
            f"config file {str(path)!r} has unknown key {prefix}{unknown[0]!r}",
            hint="allowed keys: " + ", ".join(sorted(allowed)),
        )


def _number(value: Any, name: str, source: str) -> float:
    if isinstance(value, bool):
        raise ConfigError(f"{name} from {source} must be a number of seconds, got {value!r}")
    if isinstance(value, str) and not _ASCII_NUMBER.fullmatch(value.strip()):
        raise ConfigError(f"{name} from {source} must be a number of seconds, got {value!r}")
    try:
        number = float(value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{name} from {source} must be a number of seconds, got {value!r}") from exc
    if number == float("inf"):
        raise ConfigError(f"{name} from {source} must be a finite number of seconds, got {value!r}")
    if number < 0 or number != number:
        raise ConfigError(f"{name} from {source} must be zero or more, got {value!r}")
    return number


_ASCII_NUMBER = re.compile(r"[0-9]+(\.[0-9]*)?|\.[0-9]+")


def _flag(value: Any, name: str, source: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in {"1", "true", "yes", "on"}:
        return True
    if text in {"0", "false", "no", "off", ""}:
        return False
    raise ConfigError(f"{name} from {source} must be true or false, got {value!r}")


def _string(value: Any, name: str, source: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{name} from {source} must be a non-empty string")
    return value


def _pick(
    key: str, flag: Any, env: Mapping[str, str], env_name: str, toml: Mapping[str, Any]
) -> tuple[Any, str] | None:
    if flag is not None:
        return flag, f"--{key.replace('_', '-')}"
    if env.get(env_name, "") != "":
        return env[env_name], env_name
    if key in toml:
        return toml[key], "the config file"
    return None


def load_settings(
    *,
    services: Sequence[str] | None = None,
    config_file: str | Path | None = None,
    database_url: str | None = None,
    migrations_dir: str | Path | None = None,
    lock_wait_s: float | None = None,
    wait_for_db_s: float | None = None,
    allow_out_of_order: bool | None = None,
    repair_tracking: bool | None = None,
    snapshot_to: str | Path | None = None,
    lock_timeout_ms: int | None = None,
    lock_retries: int | None = None,
    lock_budget_ms: int | None = None,
    statement_timeout_ms: int | None = None,
    large_table_rows: int | None = None,
    large_table_bytes: int | None = None,
    embedded_dir: str | Path | None = None,
    application_name: str | None = None,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> Settings:
    """Resolve settings from flags (the keyword arguments), environment, TOML and defaults.

    ``migrations_dir`` is the folder of one service when exactly one service is
    selected, and otherwise the root holding one folder per service.
    """
    env = os.environ if env is None else env
    cwd = cwd or Path.cwd()
    path = _config_path(config_file, env, cwd)
    toml = _read_toml(path) if path else {}
    declared = declared_services(toml, path)

    chosen = _select_services(services, env, declared)
    if database_url is not None and not database_url.strip():
        raise ConfigError("--database-url is empty", hint="give a postgresql:// URL or leave it out")
    if migrations_dir is None and env.get("MIGRATE_MIGRATIONS_DIR"):
        migrations_dir = env["MIGRATE_MIGRATIONS_DIR"]
    single_dir = Path(migrations_dir) if migrations_dir is not None and len(chosen) == 1 else None
    root_value = migrations_dir if single_dir is None and migrations_dir is not None else None
    toml_root = (
        _string(toml["migrations_root"], "migrations_root", "the config file") if "migrations_root" in toml else None
    )
    root = Path(root_value or toml_root or DEFAULT_MIGRATIONS_ROOT)
    base = path.parent if (path and root_value is None and "migrations_root" in toml) else cwd
    root = root if root.is_absolute() else base / root

    service_tables = _service_tables(toml)
    resolved = tuple(
        _service_settings(spec, service_tables, toml, env, database_url, root, single_dir, cwd, path) for spec in chosen
    )
    for svc in resolved:
        register_secret(svc.database_url)
    register_secret(None, password=env.get("PGPASSWORD"))
    return Settings(
        services=resolved,
        lock_wait_s=_resolve_number("lock_wait_s", lock_wait_s, env, "MIGRATE_LOCK_WAIT", toml, DEFAULT_LOCK_WAIT_S),
        wait_for_db_s=_resolve_number(
            "wait_for_db_s", wait_for_db_s, env, "MIGRATE_WAIT_FOR_DB", toml, DEFAULT_WAIT_FOR_DB_S
        ),
        allow_out_of_order=_resolve_flag(
            "allow_out_of_order", allow_out_of_order, env, "MIGRATE_ALLOW_OUT_OF_ORDER", toml
        ),
        repair_tracking=_resolve_flag("repair_tracking", repair_tracking, env, "MIGRATE_REPAIR_TRACKING", {}),
        snapshot_to=_resolve_path(snapshot_to, env.get("MIGRATE_SNAPSHOT_TO"), cwd),
        lock_timeout_ms=_resolve_int(
            "lock_timeout_ms", lock_timeout_ms, env, "MIGRATE_LOCK_TIMEOUT_MS", toml, DEFAULT_LOCK_TIMEOUT_MS
        ),
        lock_retries=_resolve_int(
            "lock_retries", lock_retries, env, "MIGRATE_LOCK_RETRIES", toml, DEFAULT_LOCK_RETRIES
        ),
        lock_budget_ms=_resolve_int(
            "lock_budget_ms", lock_budget_ms, env, "MIGRATE_LOCK_BUDGET_MS", toml, DEFAULT_LOCK_BUDGET_MS
        ),
        statement_timeout_ms=_resolve_int(
            "statement_timeout_ms",
            statement_timeout_ms,
            env,
            "MIGRATE_STATEMENT_TIMEOUT_MS",
            toml,
            DEFAULT_STATEMENT_TIMEOUT_MS,
        ),
        large_table_rows=_resolve_int(
            "large_table_rows", large_table_rows, env, "MIGRATE_LARGE_TABLE_ROWS", toml, DEFAULT_LARGE_TABLE_ROWS
        ),
        large_table_bytes=_resolve_int(
            "large_table_bytes", large_table_bytes, env, "MIGRATE_LARGE_TABLE_BYTES", toml, DEFAULT_LARGE_TABLE_BYTES
        ),
        embedded_dir=_resolve_embedded_dir(embedded_dir, env, toml, cwd),
        application_name=_resolve_application_name(application_name, env, toml),
        config_file=path,
        declared=declared,
    )


def _service_tables(toml: Mapping[str, Any]) -> dict[str, Any]:
    """Per-service settings by name: a ``[[service]]`` table's own, then its ``[services.<name>]`` table's."""
    tables: dict[str, Any] = {}
    for table in toml.get("service", []):
        tables[table["name"]] = {k: v for k, v in table.items() if k in _SERVICE_KEYS}
    for name, table in toml.get("services", {}).items():
        tables[name] = {**tables.get(name, {}), **table}
    return tables


def _config_path(config_file: str | Path | None, env: Mapping[str, str], cwd: Path) -> Path | None:
    explicit = config_file or env.get("MIGRATE_CONFIG") or None
    if explicit:
        candidate = Path(explicit)
        return candidate if candidate.is_absolute() else cwd / candidate
    default = cwd / DEFAULT_CONFIG_FILE
    return default if default.is_file() else None


def _select_services(
    services: Sequence[str] | None, env: Mapping[str, str], declared: tuple[ServiceSpec, ...]
) -> tuple[ServiceSpec, ...]:
    names = list(services or [])
    if not names and env.get("MIGRATE_SERVICE"):
        names = [n.strip() for n in env["MIGRATE_SERVICE"].split(",") if n.strip()]
    if not names:
        return declared
    return tuple(dict.fromkeys(find_service(n, declared) for n in names))


def _service_settings(
    spec: ServiceSpec,
    service_tables: Mapping[str, Any],
    toml: Mapping[str, Any],
    env: Mapping[str, str],
    flag_url: str | None,
    root: Path,
    single_dir: Path | None,
    cwd: Path,
    config_path: Path | None,
) -> ServiceSettings:
    table: Mapping[str, Any] = {}
    for key in (spec.name, *spec.aliases):
        if key in service_tables:
            table = service_tables[key]
    url = _service_url(spec, table, toml, env, flag_url)
    explicit_dir = single_dir is not None or "migrations_dir" in table
    if single_dir is not None:
        folder = single_dir if single_dir.is_absolute() else cwd / single_dir
        folder = _service_folder(folder, spec.name)
    elif "migrations_dir" in table:
        folder = Path(_string(table["migrations_dir"], "migrations_dir", "the config file"))
        folder = folder if folder.is_absolute() else (config_path.parent if config_path else cwd) / folder
    else:
        folder = root / spec.name
    tracking = table.get("tracking_table", spec.default_tracking_table)
    tracking = _string(tracking, "tracking_table", "the config file")
    return ServiceSettings(
        spec=spec,
        database_url=url,
        migrations_dir=folder,
        tracking_table=tracking,
        migrations_dir_explicit=explicit_dir,
    )


def _service_folder(folder: Path, service: str) -> Path:
    """``--migrations-dir`` given the root (holding ``<service>/``) for one service means that subfolder."""
    nested = folder / service
    if nested.is_dir() and folder.is_dir() and not any(folder.glob("*.sql")):
        return nested
    return folder


def _service_url(
    spec: ServiceSpec,
    table: Mapping[str, Any],
    toml: Mapping[str, Any],
    env: Mapping[str, str],
    flag_url: str | None,
) -> str | None:
    if flag_url:
        return flag_url
    migration_names = tuple(n.removesuffix("_DATABASE_URL") + "_MIGRATION_URL" for n in spec.env_names)
    for name in (*migration_names, "MIGRATE_MIGRATION_URL", *spec.env_names, "MIGRATE_DATABASE_URL", "DATABASE_URL"):
        if env.get(name, "").strip():
            return env[name].strip()
    for source in (table, toml):
        for key in ("migration_url", "database_url"):
            if key in source:
                return _string(source[key], key, "the config file")
    return None


def _resolve_number(
    key: str, flag: float | None, env: Mapping[str, str], env_name: str, toml: Mapping[str, Any], default: float
) -> float:
    picked = _pick(key, flag, env, env_name, toml)
    return default if picked is None else _number(picked[0], key, picked[1])


def _resolve_int(
    key: str, flag: int | None, env: Mapping[str, str], env_name: str, toml: Mapping[str, Any], default: int
) -> int:
    picked = _pick(key, flag, env, env_name, toml)
    if picked is None:
        return default
    value, source = picked
    text = str(value).strip()
    if isinstance(value, bool) or not _ASCII_DIGITS.fullmatch(text):
        raise ConfigError(f"{key} from {source} must be a whole number of zero or more (digits 0-9), got {value!r}")
    limit = _INT_LIMITS.get(key, _BIGINT_MAX)
    if int(text) > limit:
        raise ConfigError(f"{key} from {source} must be at most {limit}, got {value!r}")
    return int(text)


_ASCII_DIGITS = re.compile(r"[0-9]+")
_BIGINT_MAX = 2**63 - 1
#: Settings PostgreSQL stores as a 32-bit integer (lock_timeout is in ms, at most 2^31-1).
_INT_LIMITS = {"lock_timeout_ms": 2**31 - 1, "lock_retries": 2**31 - 1}


def _resolve_flag(key: str, flag: bool | None, env: Mapping[str, str], env_name: str, toml: Mapping[str, Any]) -> bool:
    """An on/off setting; the break-glass repair_tracking is given no config-file source."""
    picked = _pick(key, flag, env, env_name, toml)
    return False if picked is None else _flag(picked[0], key, picked[1])


def _resolve_path(flag: str | Path | None, env_value: str | None, cwd: Path) -> Path | None:
    value = flag if flag is not None else (env_value or None)
    if value is None:
        return None
    folder = Path(value)
    return folder if folder.is_absolute() else cwd / folder


def _resolve_embedded_dir(flag: str | Path | None, env: Mapping[str, str], toml: Mapping[str, Any], cwd: Path) -> Path:
    picked = _pick("embedded_dir", flag, env, "MIGRATE_EMBEDDED_DIR", toml)
    folder = Path(str(picked[0])) if picked else Path(DEFAULT_EMBEDDED_DIR)
    return folder if folder.is_absolute() else cwd / folder


def _resolve_application_name(flag: str | None, env: Mapping[str, str], toml: Mapping[str, Any]) -> str:
    picked = _pick("application_name", flag, env, "MIGRATE_APPLICATION_NAME", toml)
    if picked:
        return _string(picked[0], "application_name", picked[1])[:63]
    pod = env.get("HOSTNAME", "").strip()
    return f"scrydon-migrate@{pod}"[:63] if pod else "scrydon-migrate"
