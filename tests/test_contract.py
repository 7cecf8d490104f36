"""Promises about the package itself: light to import, every command documented, lint and types clean."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.fixtures.cli import run_cli

REPO = Path(__file__).resolve().parents[1]
COMMANDS = ["up", "status", "history", "config", "embedded"]


def test_importing_the_package_loads_no_driver_parser_or_cli_library():
    code = (
        "import sys, scrydon_migrate; "
        "print(sorted(m for m in ('psycopg', 'pglast', 'click', 'rich') if m in sys.modules))"
    )
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert loaded.strip() == "[]"


@pytest.mark.parametrize("name", COMMANDS)
def test_every_command_has_help_with_an_explanation(name):
    run = run_cli(name, "--help")
    assert run.code == 0
    assert len(run.stdout.splitlines()) > 3


def test_there_is_no_down_command_migrations_are_forward_only():
    run = run_cli("down")
    assert run.code == 2


def test_unknown_service_is_a_config_error_with_the_valid_names():
    run = run_cli("status", "--service", "billing")
    assert run.code == 3
    assert "unknown service 'billing'" in run.stderr and "platform" in run.stderr


@pytest.mark.parametrize("args", [["check"], ["format", "--check"]], ids=["lint", "format"])
def test_code_is_ruff_clean(args):
    done = subprocess.run([sys.executable, "-m", "ruff", *args], cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_package_is_mypy_strict_clean():
    done = subprocess.run([sys.executable, "-m", "mypy"], cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
