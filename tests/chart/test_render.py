"""What the chart renders: one hook Job per service, its labels, environment and security context.

The runbook's contract: the migration Jobs are `post-install,pre-upgrade` hooks whose failed runs keep
their logs, `kubectl wait ... job -l app.kubernetes.io/name=scrydon` selects every one of them, and
`repairTracking` sets MIGRATE_REPAIR_TRACKING=1 on the matching service's Job only.
"""

from __future__ import annotations

import pytest

from scrydon_migrate.config import SERVICES, find_service
from scrydon_migrate.errors import ExitCode
from tests.chart.rendering import (
    HOOK,
    NAMESPACE,
    RELEASE,
    RUNBOOK_SELECTOR,
    VALUES_KEYS,
    container,
    env_names,
    render,
    selects,
)

SERVICE_OF = {key: find_service(key).name for key in VALUES_KEYS}
EVERYTHING_ON = {key: {"startup": {"enabled": True}, "backfill": {"enabled": True}} for key in VALUES_KEYS}


def test_the_chart_knows_the_same_services_as_the_tool():
    assert sorted(SERVICE_OF.values()) == sorted(s.name for s in SERVICES)
    assert {s.values_key for s in SERVICES} == set(VALUES_KEYS)


def test_one_migration_job_per_service_that_owns_a_schema(helm):
    rendered = render(helm)

    assert sorted(j["metadata"]["name"] for j in rendered.jobs) == sorted(
        f"{RELEASE}-migration-{service}" for service in SERVICE_OF.values()
    )
    for key, service in SERVICE_OF.items():
        assert container(rendered.job(service))["args"] == ["up", "--service", service], key
    assert rendered.of_kind("Deployment") == [] and rendered.of_kind("ConfigMap") == []


@pytest.mark.parametrize("key", VALUES_KEYS)
def test_a_disabled_service_has_no_job(helm, key):
    rendered = render(helm, {key: {"migration": {"enabled": False}}})

    components = {j["metadata"]["labels"]["app.kubernetes.io/component"] for j in rendered.jobs}
    assert f"{SERVICE_OF[key]}-migration" not in components
    assert len(components) == len(VALUES_KEYS) - 1


def test_jobs_are_post_install_pre_upgrade_hooks_that_keep_a_failed_jobs_logs(helm):
    for job in render(helm).jobs:
        annotations = job["metadata"]["annotations"]
        assert annotations[HOOK] == "post-install,pre-upgrade"
        int(annotations["helm.sh/hook-weight"])
        policies = annotations["helm.sh/hook-delete-policy"].split(",")
        assert sorted(policies) == ["before-hook-creation", "hook-succeeded"]
        assert "hook-failed" not in policies
        assert annotations["helm.sh/hook-output-log-policy"] == "hook-failed"
        # A failed pod stays (no restart in place), so its log is there to read.
        assert job["spec"]["template"]["spec"]["restartPolicy"] == "Never"


def test_only_the_migration_jobs_are_hooks(helm):
    rendered = render(helm, EVERYTHING_ON)

    hooks = [d for d in rendered.docs if HOOK in d["metadata"].get("annotations", {})]
    assert hooks == rendered.jobs
    assert len(rendered.of_kind("Deployment")) == len(VALUES_KEYS)


def test_the_runbook_selector_selects_every_migration_job_and_only_jobs_that_complete(helm):
    rendered = render(helm, EVERYTHING_ON)

    selected = [j for j in rendered.jobs if selects(RUNBOOK_SELECTOR, j["metadata"]["labels"])]
    assert selected == rendered.jobs and len(selected) == len(VALUES_KEYS)
    for job in selected:
        labels = job["metadata"]["labels"]
        service = container(job)["args"][2]
        assert "-migration-" in job["metadata"]["name"]  # the runbook extracts the "*-migration-*" Jobs
        assert labels["app.kubernetes.io/component"] == f"{service}-migration"
        assert labels["app.kubernetes.io/instance"] == RELEASE
        assert labels["app.kubernetes.io/managed-by"] == "Helm"
        assert labels["app.kubernetes.io/version"] == "0.1.0"
        assert labels["app.kubernetes.io/part-of"] == "scrydon"
        assert selects(RUNBOOK_SELECTOR, job["spec"]["template"]["metadata"]["labels"])  # kubectl logs -l
        # `kubectl wait --for=condition=complete` can only finish if every selected Job can complete:
        # each runs `up` once; the never-ending backfill worker is a Deployment, not a Job.
        assert container(job)["args"][0] == "up" and "--follow" not in container(job)["args"]


@pytest.mark.parametrize("key", VALUES_KEYS)
def test_repair_tracking_sets_the_flag_on_that_services_job_only(helm, key):
    values = {k: {"startup": {"enabled": True}, "backfill": {"enabled": True}} for k in VALUES_KEYS}
    values[key] = {**values[key], "migration": {"repairTracking": True}}
    rendered = render(helm, values)

    for other, service in SERVICE_OF.items():
        env = env_names(container(rendered.job(service)))
        if other == key:
            assert env["MIGRATE_REPAIR_TRACKING"] == {"name": "MIGRATE_REPAIR_TRACKING", "value": "1"}
        else:
            assert "MIGRATE_REPAIR_TRACKING" not in env, other
        # The break-glass flag never reaches a long-running worker or the pods' start-up runs.
        assert "MIGRATE_REPAIR_TRACKING" not in env_names(container(rendered.deployment(service)))
        init = rendered.startup_patch(service)["spec"]["template"]["spec"]["initContainers"][0]
        assert "MIGRATE_REPAIR_TRACKING" not in env_names(init)


@pytest.mark.parametrize("key", VALUES_KEYS)
def test_notes_remind_to_turn_repair_tracking_off_for_that_service_only(helm, key):
    notes = render(helm, {key: {"migration": {"repairTracking": True}}}, is_upgrade=True).notes

    assert f"WARNING: {key}.migration.repairTracking is ON" in notes
    assert "`repairTracking` is a one-shot,\nbreak-glass flag" in notes
    assert f"--reuse-values --set {key}.migration.repairTracking=false" in notes
    for other in VALUES_KEYS:
        if other != key:
            assert f"{other}.migration.repairTracking" not in notes


def test_notes_have_no_reminder_when_repair_tracking_is_off(helm):
    notes = render(helm).notes

    assert "repairTracking" not in notes
    assert f"helm -n {NAMESPACE} upgrade {RELEASE} <chart> --reuse-values" in notes
    assert f"kubectl -n {NAMESPACE} get jobs -l {RUNBOOK_SELECTOR},app.kubernetes.io/instance={RELEASE}" in notes


def test_repair_tracking_false_sets_nothing(helm):
    # "yes" / "1" are rejected by values.schema.json (test_lint_and_validate); a real boolean false is off.
    rendered = render(helm, {"analytics": {"migration": {"repairTracking": False}}})
    assert all("MIGRATE_REPAIR_TRACKING" not in env_names(container(j)) for j in rendered.jobs)


@pytest.mark.parametrize("key", VALUES_KEYS)
def test_environment_of_a_migration_job(helm, key):
    spec = find_service(key)
    values = {key: {"database": {"existingSecret": "pg-credentials", "secretKey": "url"}}}
    env = env_names(container(render(helm, values).job(spec.name)))

    assert env["MIGRATE_SERVICE"]["value"] == spec.name
    url_var = spec.env_names[0]  # the tool's most specific variable: PLATFORM_DATABASE_URL for `auth`
    assert url_var == f"{spec.name.upper()}_DATABASE_URL"
    assert env[url_var]["valueFrom"] == {"secretKeyRef": {"name": "pg-credentials", "key": "url"}}
    assert float(env["MIGRATE_WAIT_FOR_DB"]["value"]) > 0  # a Job started before its database waits
    assert float(env["MIGRATE_LOCK_WAIT"]["value"]) > 0
    assert env["MIGRATE_LOG_FORMAT"]["value"] == "text"
    assert env["MIGRATE_APPLICATION_NAME"]["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.name"}}
    assert [e for e in env if e.endswith("_DATABASE_URL")] == [url_var]


def test_shared_and_per_service_settings(helm):
    values = {
        "migration": {
            "waitForDatabaseSeconds": 30,
            "lockWaitSeconds": 45,
            "logFormat": "json",
            "backoffLimit": 1,
            "activeDeadlineSeconds": 900,
            "hookWeight": 3,
            "extraEnv": [{"name": "MIGRATE_LOCK_TIMEOUT_MS", "value": "3000"}],
        },
        "analytics": {"migration": {"activeDeadlineSeconds": 7200, "ttlSecondsAfterFinished": 86400}},
        "cortex": {"migration": {"resources": {"limits": {"memory": "1Gi"}}}},
    }
    rendered = render(helm, values)

    for job in rendered.jobs:
        env = env_names(container(job))
        assert env["MIGRATE_WAIT_FOR_DB"]["value"] == "30"
        assert env["MIGRATE_LOCK_WAIT"]["value"] == "45"
        assert env["MIGRATE_LOG_FORMAT"]["value"] == "json"
        assert env["MIGRATE_LOCK_TIMEOUT_MS"]["value"] == "3000"
        assert job["spec"]["backoffLimit"] == 1
        assert job["metadata"]["annotations"]["helm.sh/hook-weight"] == "3"
    assert rendered.job("analytics")["spec"]["activeDeadlineSeconds"] == 7200
    assert rendered.job("analytics")["spec"]["ttlSecondsAfterFinished"] == 86400
    assert rendered.job("agentic")["spec"]["activeDeadlineSeconds"] == 900
    assert "ttlSecondsAfterFinished" not in rendered.job("agentic")["spec"]
    assert container(rendered.job("cortex"))["resources"] == {"limits": {"memory": "1Gi"}}
    assert container(rendered.job("platform"))["resources"]["requests"] == {"cpu": "50m", "memory": "128Mi"}


def test_defaults_bound_every_job(helm):
    for job in render(helm).jobs:
        spec = job["spec"]
        env = env_names(container(job))
        assert 0 < spec["backoffLimit"] <= 3
        # The deadline leaves room for waiting on the database and on another pod's lock, then applying.
        assert spec["activeDeadlineSeconds"] > float(env["MIGRATE_WAIT_FOR_DB"]["value"]) + float(
            env["MIGRATE_LOCK_WAIT"]["value"]
        )


def test_exit_codes_a_retry_cannot_fix_fail_the_job_at_once(helm):
    transient = {ExitCode.OK, ExitCode.FINDINGS, ExitCode.UNAVAILABLE}
    for job in render(helm).jobs:
        rules = job["spec"]["podFailurePolicy"]["rules"]
        fail = next(r for r in rules if r["action"] == "FailJob")["onExitCodes"]
        assert fail["containerName"] == container(job)["name"]
        assert fail["operator"] == "In"
        assert sorted(fail["values"]) == sorted(int(c) for c in ExitCode if c not in transient)
        assert {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}]} in rules

    off = render(helm, {"migration": {"podFailurePolicy": {"enabled": False}}})
    assert all("podFailurePolicy" not in j["spec"] for j in off.jobs)


def test_security_context_and_read_only_root_filesystem(helm):
    rendered = render(helm, EVERYTHING_ON)
    workloads = rendered.jobs + rendered.of_kind("Deployment")
    patches = [rendered.startup_patch(SERVICE_OF[key]) for key in VALUES_KEYS]
    pods = [w["spec"]["template"]["spec"] for w in workloads] + [p["spec"]["template"]["spec"] for p in patches]
    assert len(pods) == 3 * len(VALUES_KEYS)

    for pod in pods:
        containers = pod.get("containers", []) + pod.get("initContainers", [])
        assert len(containers) == 1
        (ctr,) = containers
        security = ctr["securityContext"]
        assert security["runAsNonRoot"] is True
        assert security["runAsUser"] == 10001
        assert security["readOnlyRootFilesystem"] is True
        assert security["allowPrivilegeEscalation"] is False
        assert security["capabilities"] == {"drop": ["ALL"]}
        assert security["seccompProfile"] == {"type": "RuntimeDefault"}
        # /tmp (HOME and TMPDIR in the image) is the one writable place.
        (mount,) = ctr["volumeMounts"]
        assert mount["mountPath"] == "/tmp"
        (volume,) = [v for v in pod["volumes"] if v["name"] == mount["name"]]
        assert "emptyDir" in volume
        assert ctr["command"] == ["scrydon-migrate"]
    for workload in workloads:
        pod = workload["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["runAsUser"] == 10001
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        assert pod["automountServiceAccountToken"] is False


def test_pod_placement_image_and_account_are_values(helm):
    values = {
        "image": {"repository": "registry.example/scrydon-migrate", "tag": "1.2.3", "pullPolicy": "Always"},
        "imagePullSecrets": [{"name": "pull"}],
        "serviceAccountName": "migrator",
        "nodeSelector": {"pool": "system"},
        "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "system", "effect": "NoSchedule"}],
        "affinity": {
            "nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {
                    "nodeSelectorTerms": [{"matchExpressions": [{"key": "pool", "operator": "In", "values": ["a"]}]}]
                }
            }
        },
        "priorityClassName": "high",
        "podAnnotations": {"example/annotation": "x"},
        "podLabels": {"team": "platform"},
        "resources": {"requests": {"cpu": "100m"}, "limits": {"cpu": "1"}},
        **EVERYTHING_ON,
    }
    rendered = render(helm, values)

    for workload in rendered.jobs + rendered.of_kind("Deployment"):
        pod = workload["spec"]["template"]["spec"]
        assert pod["imagePullSecrets"] == [{"name": "pull"}]
        assert pod["serviceAccountName"] == "migrator"
        assert pod["nodeSelector"] == values["nodeSelector"]
        assert pod["tolerations"] == values["tolerations"]
        assert pod["affinity"] == values["affinity"]
        assert pod["priorityClassName"] == "high"
        assert workload["spec"]["template"]["metadata"]["annotations"] == {"example/annotation": "x"}
        assert workload["spec"]["template"]["metadata"]["labels"]["team"] == "platform"
        ctr = container(workload)
        assert ctr["image"] == "registry.example/scrydon-migrate:1.2.3"
        assert ctr["imagePullPolicy"] == "Always"
        # Helm merges the override into the defaults, key by key.
        assert ctr["resources"] == {
            "requests": {"cpu": "100m", "memory": "128Mi"},
            "limits": {"cpu": "1", "memory": "512Mi"},
        }

    digest = "sha256:" + "a" * 64
    pinned = render(helm, {"image": {"digest": digest}})
    assert {container(j)["image"] for j in pinned.jobs} == {f"scrydon/scrydon-migrate@{digest}"}
    default = render(helm)
    assert {container(j)["image"] for j in default.jobs} == {"scrydon/scrydon-migrate:0.1.0"}
    assert all("serviceAccountName" not in j["spec"]["template"]["spec"] for j in default.jobs)


def test_names_fit_and_never_collide_with_a_long_release_name(helm):
    release = "a-very-long-release-name-for-scrydon-in-production-x"  # 53 characters: Helm's maximum
    rendered = render(helm, EVERYTHING_ON, release=release)

    names = [d["metadata"]["name"] for d in rendered.docs]
    assert len(set(names)) == len(names)
    assert all(len(n) <= 63 and not n.endswith("-") for n in names)
    for job in rendered.jobs:
        assert job["metadata"]["name"].endswith("-migration-" + container(job)["args"][2])
    assert render(helm, {"fullnameOverride": "scrydon-prod"}).job("platform")["metadata"]["name"] == (
        "scrydon-prod-migration-platform"
    )


def test_backfill_worker_is_a_deployment_with_the_jobs_environment(helm):
    rendered = render(helm, {"analytics": {"backfill": {"enabled": True, "replicas": 2}}})

    (deployment,) = rendered.of_kind("Deployment")
    assert deployment["metadata"]["name"] == f"{RELEASE}-backfill-analytics"
    assert deployment["spec"]["replicas"] == 2
    assert HOOK not in deployment["metadata"].get("annotations", {})
    ctr = container(deployment)
    assert ctr["args"] == ["backfill", "run", "--service", "analytics", "--follow"]
    job_env = env_names(container(rendered.job("analytics")))
    assert env_names(ctr) == job_env
    # No readiness probe: the worker is ready once it runs, even before the schema exists, so it can never
    # hold up `helm install --wait` (and with it the post-install migration Jobs).
    assert "readinessProbe" not in ctr and "startupProbe" not in ctr
    selector = deployment["spec"]["selector"]["matchLabels"]
    assert selector["app.kubernetes.io/component"] == "analytics-backfill"
    assert all(deployment["spec"]["template"]["metadata"]["labels"][k] == v for k, v in selector.items())


def test_startup_patch_adds_the_same_up_as_an_init_container(helm):
    rendered = render(helm, {"apiOntology": {"startup": {"enabled": True}}})

    (configmap,) = rendered.of_kind("ConfigMap")
    assert list(configmap["data"]) == ["ontology-init-container.yaml"]
    assert HOOK not in configmap["metadata"].get("annotations", {})
    pod = rendered.startup_patch("ontology")["spec"]["template"]["spec"]
    (init,) = pod["initContainers"]
    job = container(rendered.job("ontology"))
    assert init["args"] == job["args"] == ["up", "--service", "ontology"]
    assert init["image"] == job["image"]
    assert env_names(init) == env_names(job)
    assert init["securityContext"] == job["securityContext"]
    assert [v["name"] for v in pod["volumes"]] == [init["volumeMounts"][0]["name"]] == ["scrydon-migrate-tmp"]
    assert "ontology-init-container.yaml" in rendered.notes
