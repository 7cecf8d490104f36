"""No password is ever shown, whatever characters it holds, in a URL or a key=value conninfo; JSON stays JSON.

The password is read by libpq's own parser (psycopg.conninfo) and masked in every way it may be
written: raw, percent-encoded, quoted for libpq, escaped in JSON. The test cluster trusts local
connections, so any password connects.
"""

from __future__ import annotations

import json
import socket
from urllib.parse import quote, urlsplit

import pytest

from tests.fixtures.cli import run_cli

PASSWORDS = [
    "pa/ss word",
    "p@ss:w/rd?#&=%25",
    "quote'and\"dq\\back",
    "ünï cødé-秘密",
    "ends-with-eq=",
]


def _forms(password):
    return {password, quote(password, safe=""), json.dumps(password)[1:-1], password.replace("\\", "\\\\")}


def _url(db_url, password):
    parts = urlsplit(db_url)
    return parts._replace(netloc=f"{parts.username}:{quote(password, safe='')}@{parts.hostname}:{parts.port}").geturl()


def _keywords(db_url, password, port=None):
    parts = urlsplit(db_url)
    escaped = password.replace("\\", "\\\\").replace("'", "\\'")
    return (
        f"host={parts.hostname} port={port or parts.port} dbname={parts.path.lstrip('/')} user={parts.username} "
        f"password='{escaped}'"
    )


def _closed_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _assert_json_lines(text):
    for line in text.splitlines():
        if line.strip():
            json.loads(line)


@pytest.mark.parametrize("password", PASSWORDS)
@pytest.mark.parametrize("form", ["url", "keywords"])
def test_no_command_shows_the_password_and_json_logs_stay_json(migrations, db_url, password, form):
    url = _url(db_url, password) if form == "url" else _keywords(db_url, password)
    migrations.write("0001_create.sql", "CREATE TABLE organisations (id bigint PRIMARY KEY);")
    migrations.write("0002_broken.sql", "ALTER TABLE nowhere ADD COLUMN x int;")
    base = ("--service", "platform", "--database-url", url, "--migrations-dir", str(migrations.path))
    runs = [
        run_cli("--log-format", "json", "up", *base),
        run_cli("up", *base, "--json"),
        run_cli("status", *base, "--json"),
        run_cli("status", *base),
        run_cli("doctor", *base),
        run_cli("doctor", *base, "--json"),
        run_cli("config", *base),
        run_cli("--log-format", "json", "up", *base, env={"PGPASSWORD": password}),
    ]
    assert runs[0].code == 5, runs[0].stderr
    written = "".join(r.stdout + r.stderr for r in runs)
    for shown in _forms(password):
        assert shown not in written, shown
    _assert_json_lines(runs[0].stderr)
    json.loads(runs[1].stdout)
    json.loads(runs[2].stdout)
    json.loads(runs[5].stdout)


@pytest.mark.parametrize("password", PASSWORDS)
def test_an_unreachable_keyword_conninfo_ending_with_its_password_gives_a_valid_json_fatal_line(db_url, password):
    url = _keywords(db_url, password, port=_closed_port())

    run = run_cli("--log-format", "json", "status", "--service", "platform", "--database-url", url)

    assert run.code == 4, run.stderr
    _assert_json_lines(run.stderr)
    fatal = [json.loads(line) for line in run.stderr.splitlines() if line.strip()][-1]
    assert fatal["event"] == "DATABASE_UNAVAILABLE" and fatal["level"] == "FATAL"
    for shown in _forms(password):
        assert shown not in run.stderr
