"""The chart passes `helm lint --strict`, every manifest it renders is a valid Kubernetes object (strict
schemas: no unknown field) for several Kubernetes versions, and values.schema.json rejects bad values."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from scrydon_migrate.config import find_service
from tests.chart.rendering import CHART_DIR, VALUES_KEYS, render

# The chart's kubeVersion floor, the release where podFailurePolicy went GA, and the newest schemas
# kubernetes-validate ships.
KUBE_VERSIONS = ("1.29", "1.31", "latest")
EVERYTHING_ON: dict[str, Any] = {
    key: {"startup": {"enabled": True}, "backfill": {"enabled": True}, "migration": {"repairTracking": True}}
    for key in VALUES_KEYS
} | {
    "imagePullSecrets": [{"name": "pull"}],
    "serviceAccountName": "migrator",
    "nodeSelector": {"pool": "system"},
    "tolerations": [{"key": "dedicated", "operator": "Exists", "effect": "NoSchedule"}],
    "priorityClassName": "high",
    "podAnnotations": {"example/annotation": "x"},
    "migration": {"ttlSecondsAfterFinished": 3600, "extraEnv": [{"name": "MIGRATE_LOCK_RETRIES", "value": "3"}]},
}
VALUE_SETS = {"defaults": {}, "everything-on": EVERYTHING_ON}


@pytest.fixture(scope="module")
def kubernetes_validate() -> Any:
    return pytest.importorskip("kubernetes_validate.utils", reason="pip install kubernetes-validate")


def _kube_version(kv: Any, version: str) -> str:
    if version == "latest":
        return str(kv.latest_version())
    if version not in {".".join(v.split(".")[:2]) for v in kv.all_versions()}:
        pytest.skip(f"kubernetes-validate ships no schemas for Kubernetes {version}")
    return version


@pytest.mark.parametrize("kube_version", ["1.29.0", "1.31.0"])
@pytest.mark.parametrize("values", VALUE_SETS.values(), ids=VALUE_SETS.keys())
def test_helm_lint_strict_is_clean(helm, values, kube_version):
    report = helm.lint(CHART_DIR, values, strict=True, kube_version=f"v{kube_version}")

    assert report["errors"] == []
    # Severity 1 is information ("icon is recommended"); 2 warning and 3 error fail `--strict`.
    assert [m for m in report["messages"] if m["severity"] >= 2] == []
    assert report["total_charts_linted"] == 1


@pytest.mark.parametrize("version", KUBE_VERSIONS)
@pytest.mark.parametrize("values", VALUE_SETS.values(), ids=VALUE_SETS.keys())
def test_every_rendered_manifest_is_valid_in_strict_mode(helm, kubernetes_validate, values, version):
    kv = kubernetes_validate
    kube = _kube_version(kv, version)
    rendered = render(helm, values, is_install=True)
    kinds = sorted({d["kind"] for d in rendered.docs})
    assert kinds == (["ConfigMap", "Deployment", "Job"] if values else ["Job"])

    for doc in rendered.docs:
        try:
            kv.validate(doc, kube, strict=True)
        except kv.ValidationError as exc:
            path = ".".join(str(p) for p in exc.path)
            pytest.fail(
                f"{doc['kind']}/{doc['metadata']['name']} is invalid for Kubernetes {kube}: {path}: {exc.message}"
            )
        except kv.SchemaNotFoundError as exc:  # never silently pass an unknown kind
            pytest.fail(exc.message)


@pytest.mark.parametrize("version", KUBE_VERSIONS)
def test_startup_patch_makes_a_valid_deployment(helm, kubernetes_validate, version):
    """The init-container patch, merged into a service's Deployment, is still a valid Deployment."""
    kv = kubernetes_validate
    kube = _kube_version(kv, version)
    rendered = render(helm, EVERYTHING_ON)
    service_deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "api-platform"},
        "spec": {
            "selector": {"matchLabels": {"app": "api-platform"}},
            "template": {
                "metadata": {"labels": {"app": "api-platform"}},
                "spec": {
                    "containers": [{"name": "api", "image": "scrydon/api-platform:1"}],
                    "volumes": [{"name": "config", "emptyDir": {}}],
                },
            },
        },
    }
    for key in VALUES_KEYS:
        patch = rendered.startup_patch(find_service(key).name)
        patched = copy.deepcopy(service_deployment)
        pod = patched["spec"]["template"]["spec"]
        new = patch["spec"]["template"]["spec"]
        # What a strategic merge does with these two lists: entries are merged by name.
        pod["initContainers"] = new["initContainers"]
        pod["volumes"] = pod["volumes"] + new["volumes"]
        kv.validate(patched, kube, strict=True)
        assert list(patch) == ["spec"] and list(patch["spec"]) == ["template"]


BAD_VALUES = {
    "repairTracking is a string": ({"analytics": {"migration": {"repairTracking": "yes"}}}, "repairTracking"),
    "repairTracking is 1": ({"auth": {"migration": {"repairTracking": 1}}}, "repairTracking"),
    "enabled is a string": ({"cortex": {"migration": {"enabled": "true"}}}, "enabled"),
    "a misspelt key": ({"agentic": {"migration": {"repairTraking": True}}}, "repairTraking"),
    "an unknown service": ({"ontology": {"migration": {"enabled": True}}}, "ontology"),
    "an unknown log format": ({"migration": {"logFormat": "xml"}}, "logFormat"),
    "a negative backoffLimit": ({"migration": {"backoffLimit": -1}}, "backoffLimit"),
    "a deadline as text": ({"migration": {"activeDeadlineSeconds": "30m"}}, "activeDeadlineSeconds"),
    "no Secret name": ({"apiOntology": {"database": {"existingSecret": ""}}}, "existingSecret"),
    "an invalid Secret name": ({"auth": {"database": {"existingSecret": "Auth_DB"}}}, "existingSecret"),
    "root allowed": ({"securityContext": {"runAsNonRoot": False}}, "runAsNonRoot"),
    "privilege escalation": ({"securityContext": {"allowPrivilegeEscalation": True}}, "allowPrivilegeEscalation"),
    "a bad pull policy": ({"image": {"pullPolicy": "Sometimes"}}, "pullPolicy"),
    "a bad digest": ({"image": {"digest": "latest"}}, "digest"),
    "backfill replicas as text": ({"cortex": {"backfill": {"replicas": "two"}}}, "replicas"),
}


@pytest.mark.parametrize(("values", "key"), BAD_VALUES.values(), ids=BAD_VALUES.keys())
def test_values_schema_rejects_bad_values(helm, values, key):
    with helm.Chart.load(CHART_DIR) as chart, pytest.raises(helm.HelmValuesError) as caught:
        chart.validate_schema(chart.merge_values(values))
    assert key in str(caught.value)


def test_helm_lint_reports_a_string_repair_tracking_as_an_error(helm):
    report = helm.lint(CHART_DIR, {"analytics": {"migration": {"repairTracking": "yes"}}}, strict=True)

    assert any("/analytics/migration/repairTracking" in e and "want boolean" in e for e in report["errors"])


def test_the_defaults_and_the_set_flags_of_the_runbook_pass_the_schema(helm):
    with helm.Chart.load(CHART_DIR) as chart:
        chart.validate_schema(chart.values)
        for expression in ("analytics.migration.repairTracking=true", "analytics.migration.repairTracking=false"):
            chart.validate_schema(chart.merge_values(helm.parse_set_string(expression)))
        with pytest.raises(helm.HelmValuesError):
            # --set-string makes it the text "true", which must not pass for the boolean.
            chart.validate_schema(
                chart.merge_values(helm.parse_set_string_values("analytics.migration.repairTracking=true"))
            )
