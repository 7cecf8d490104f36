"""Fixtures of the chart tests: Helm's engine, loaded once per test process (skipped when it can't load)."""

from __future__ import annotations

from typing import Any

import pytest


@pytest.fixture(scope="session")
def helm() -> Any:
    # Imported here: tests.chart.rendering skips its importers when PyYAML is missing, which a conftest can't do.
    from tests.chart.rendering import load_helm

    return load_helm()
