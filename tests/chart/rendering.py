"""Rendering deploy/helm/scrydon-migrate offline with Helm's own engine (helm-python-sdk), and reading the result.

Nothing here talks to a cluster. ``helm_python`` binds Helm's Go SDK through ctypes; when it cannot load,
every test that needs it is skipped with the reason.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

yaml = pytest.importorskip("yaml", reason="PyYAML is not installed (it comes with kubernetes-validate)")

REPO = Path(__file__).resolve().parents[2]
CHART_DIR = REPO / "deploy" / "helm" / "scrydon-migrate"
RELEASE = "scrydon"
NAMESPACE = "scrydon-platform"
# The runbook: kubectl -n <ns> wait --for=condition=complete job -l app.kubernetes.io/name=scrydon --timeout=300s
RUNBOOK_SELECTOR = "app.kubernetes.io/name=scrydon"
VALUES_KEYS = ("auth", "agentic", "analytics", "apiOntology", "cortex")
HOOK = "helm.sh/hook"


def load_helm() -> Any:
    """The helm_python module, or a skip with the reason it cannot be used here."""
    try:
        import helm_python  # loads the native library at import

        helm_python.helm_sdk_version()
    except ImportError as exc:
        pytest.skip(f"helm-python-sdk is not installed ({exc}): pip install helm-python-sdk")
    except Exception as exc:  # HelmLibraryError, OSError: no usable libhelm_c for this machine
        pytest.skip(f"helm-python-sdk cannot load its native Helm library here: {exc}")
    return helm_python


@dataclass
class Rendered:
    """One offline render: the manifests (per template file) and the documents in them."""

    files: dict[str, str]
    docs: list[dict[str, Any]] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)

    @property
    def notes(self) -> str:
        return self.files.get("scrydon-migrate/templates/NOTES.txt", "")

    def of_kind(self, kind: str) -> list[dict[str, Any]]:
        return [d for d in self.docs if d["kind"] == kind]

    @property
    def jobs(self) -> list[dict[str, Any]]:
        return self.of_kind("Job")

    def job(self, service: str) -> dict[str, Any]:
        found = [
            j for j in self.jobs if j["metadata"]["labels"]["app.kubernetes.io/component"] == f"{service}-migration"
        ]
        assert len(found) == 1, (
            f"expected one migration Job for {service}, got {[j['metadata']['name'] for j in found]}"
        )
        return found[0]

    def deployment(self, service: str) -> dict[str, Any]:
        found = [
            d
            for d in self.of_kind("Deployment")
            if d["metadata"]["labels"]["app.kubernetes.io/component"] == f"{service}-backfill"
        ]
        assert len(found) == 1
        return found[0]

    def startup_patch(self, service: str) -> dict[str, Any]:
        (configmap,) = self.of_kind("ConfigMap")
        patch: dict[str, Any] = yaml.safe_load(configmap["data"][f"{service}-init-container.yaml"])
        return patch

    def hooks(self) -> list[tuple[str, str]]:
        """(template path, manifest) of every hook, as Helm stores them for `helm get hooks`."""
        return [
            (source, text.strip())
            for source, doc, text in zip(self.sources, self.docs, self.texts, strict=True)
            if HOOK in doc["metadata"].get("annotations", {})
        ]


_DOC_SPLIT = re.compile(r"(?:^|\n)---\s*(?:\n|$)")


def render(helm: Any, values: dict[str, Any] | None = None, *, release: str = RELEASE, **opts: Any) -> Rendered:
    with helm.Chart.load(CHART_DIR) as chart:
        merged = chart.merge_values(values or {})
        chart.validate_schema(merged)  # what `helm install` / `helm upgrade` do before rendering
        files = chart.render(values or {}, name=release, namespace=NAMESPACE, **opts)
    rendered = Rendered(files)
    for path, text in sorted(files.items()):
        if not path.endswith((".yaml", ".yml")):
            continue
        for chunk in _DOC_SPLIT.split(text):
            doc = yaml.safe_load(chunk)
            if doc:
                rendered.docs.append(doc)
                rendered.sources.append(path)
                rendered.texts.append(chunk)
    return rendered


def container(workload: dict[str, Any]) -> dict[str, Any]:
    (only,) = workload["spec"]["template"]["spec"]["containers"]
    return only


def env_names(ctr: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["name"]: e for e in ctr.get("env", [])}


def selects(selector: str, labels: dict[str, str]) -> bool:
    """An equality-based label selector (``a=b,c!=d``), as kubectl -l reads it."""
    for term in selector.split(","):
        if "!=" in term:
            key, value = term.split("!=", 1)
            if labels.get(key.strip()) == value.strip():
                return False
        else:
            key, value = term.split("=", 1)
            if labels.get(key.strip()) != value.strip():
                return False
    return True


_REF = re.compile(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)|\$\$")


def expand(text: str, env: dict[str, str]) -> str:
    """Kubernetes' $(VAR) expansion in env values, command and args ($$ escapes $)."""
    return _REF.sub(lambda m: "$" if m.group(0) == "$$" else env.get(m.group(1), m.group(0)), text)


def kubelet_env(ctr: dict[str, Any], *, secrets: dict[tuple[str, str], str], pod_name: str) -> dict[str, str]:
    """The environment the kubelet would give the container, from the rendered env list.

    ``secrets`` maps (Secret name, key) to the value; a reference to anything else fails, as a pod with
    a missing Secret key would not start.
    """
    env: dict[str, str] = {}
    for item in ctr.get("env", []):
        if "value" in item:
            env[item["name"]] = expand(str(item["value"]), env)
            continue
        source = item["valueFrom"]
        if "secretKeyRef" in source:
            ref = source["secretKeyRef"]
            assert (ref["name"], ref["key"]) in secrets, (
                f"{item['name']} reads a Secret key the test does not have: {ref}"
            )
            env[item["name"]] = secrets[(ref["name"], ref["key"])]
        elif source.get("fieldRef", {}).get("fieldPath") == "metadata.name":
            env[item["name"]] = pod_name
        else:
            raise AssertionError(f"unsupported env source in the chart: {item}")
    return env
