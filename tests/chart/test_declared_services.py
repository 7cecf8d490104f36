"""Services declared in scrydon-migrate.toml get their Jobs from the chart's `services` values.

With `services` empty the chart renders Scrydon's five (tests/chart/test_render.py); set, it renders
exactly the declared ones, with the same Job, environment and break-glass flag.
"""

from __future__ import annotations

import pytest

from tests.chart.rendering import RELEASE, container, env_names, render

HARBOR = {"services": {"harborCore": {"service": "harbor", "database": {"existingSecret": "harbor-database"}}}}


def test_declared_services_replace_the_built_in_jobs(helm):
    rendered = render(helm, HARBOR)

    assert [j["metadata"]["name"] for j in rendered.jobs] == [f"{RELEASE}-migration-harbor"]
    assert container(rendered.job("harbor"))["args"] == ["up", "--service", "harbor"]


def test_a_declared_services_url_comes_from_its_secret_under_its_variable(helm):
    env = env_names(container(render(helm, HARBOR).job("harbor")))

    assert env["HARBOR_DATABASE_URL"]["valueFrom"]["secretKeyRef"] == {
        "name": "harbor-database",
        "key": "DATABASE_URL",
    }
    assert env["MIGRATE_SERVICE"]["value"] == "harbor"
    assert "MIGRATE_REPAIR_TRACKING" not in env


def test_repair_tracking_of_a_declared_service_is_set_under_services(helm):
    values = {"services": {"harborCore": {**HARBOR["services"]["harborCore"], "migration": {"repairTracking": True}}}}

    rendered = render(helm, values)

    assert env_names(container(rendered.job("harbor")))["MIGRATE_REPAIR_TRACKING"]["value"] == "1"
    assert "--set services.harborCore.migration.repairTracking=false" in rendered.notes


def test_a_declared_service_may_name_its_url_variable(helm):
    values = {
        "services": {"billing": {"service": "billing", "urlEnv": "BILLING_DSN", "database": {"existingSecret": "b"}}}
    }

    assert "BILLING_DSN" in env_names(container(render(helm, values).job("billing")))


@pytest.mark.parametrize("declared", [{"database": {"existingSecret": "x"}}, {"service": "harbor"}])
def test_a_declared_service_without_its_name_or_secret_is_refused_by_the_schema(helm, declared):
    with pytest.raises(Exception, match=r"service|database"):
        render(helm, {"services": {"harborCore": declared}})
