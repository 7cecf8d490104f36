"""The runbook's manual path: `helm get hooks`, extract the *-migration-* Jobs, apply them as plain Jobs.

The chart README documents it with the runbook's commands verbatim and an awk extraction; here that very
command runs on hooks output in `helm get hooks`'s format, built from the chart's own render.
"""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from tests.chart.rendering import CHART_DIR, HOOK, NAMESPACE, REPO, RUNBOOK_SELECTOR, VALUES_KEYS, render, selects, yaml

README = CHART_DIR / "README.md"
RUNBOOK = REPO.parent / "shared" / "seed" / "database-migrations-runbook.md"
RUNBOOK_COMMANDS = (
    "helm -n <ns> upgrade <release> <chart> --reuse-values",
    "helm -n <ns> get hooks <release> > /tmp/hooks.yaml",
    "# extract the *-migration-* Job manifests, then:",
    "kubectl -n <ns> apply -f /tmp/migrations.yaml",
    "kubectl -n <ns> wait --for=condition=complete job -l app.kubernetes.io/name=scrydon --timeout=300s",
    "kubectl -n <ns> exec deploy/db -c postgres -- psql -U postgres -d auth -c '\\dt' | head",
    "repairTracking: true",
)
# A chart that embeds this one may have other hooks: a test pod, and a Job whose name has no "-migration-".
OTHER_HOOKS = (
    ("scrydon/templates/tests/test-connection.yaml", {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "scrydon-test-connection", "annotations": {HOOK: "test"}},
        "spec": {"containers": [{"name": "wget", "image": "busybox", "args": ["scrydon-migration-platform"]}]},
    }),
    ("scrydon/templates/cleanup.yaml", {
        "apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": "scrydon-cleanup", "annotations": {HOOK: "pre-delete"},
                     "labels": {"app.kubernetes.io/name": "scrydon", "note": "after-migration-x"}},
        "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox"}]}}},
    }),
)  # fmt: skip


def test_readme_quotes_the_runbooks_commands_verbatim():
    readme = README.read_text()
    for command in RUNBOOK_COMMANDS:
        assert command in readme, command
    if RUNBOOK.is_file():  # shared/ sits beside the repository
        runbook = RUNBOOK.read_text()
        for command in RUNBOOK_COMMANDS:
            assert command in runbook, command
    for phrase in ("post-install,pre-upgrade", "`repairTracking` is a one-shot, break-glass flag"):
        assert phrase in readme


def test_readme_says_what_to_do_when_a_release_needs_a_backfill_that_has_not_run():
    """The pre-upgrade Job fails, so Helm never creates that release's worker: the README's steps get out of it."""
    heading = "### A release whose migration needs a backfill that has not run"
    section = README.read_text().split(heading, 1)[1].split("\n#", 1)[0]
    for phrase in (
        "(exit 6, `MIGRATION_BACKFILL_REQUIRED`)",
        "Helm never creates or updates that\nrelease's backfill worker",
        "--version <installed chart version> --reuse-values \\\n     --set <key>.backfill.enabled=true",
        "`scrydon-migrate backfill status --service <service>` says `completed`",
        "Run the new release's `helm upgrade` again",
    ):
        assert phrase in section, phrase


def _extraction_command() -> str:
    blocks = re.findall(r"```sh\n(.*?)```", README.read_text(), flags=re.DOTALL)
    (command,) = [b for b in blocks if b.startswith("awk ")]
    return command


def _helm_get_hooks(rendered) -> str:
    """What `helm get hooks <release>` prints: each hook as "---\\n# Source: <path>\\n<manifest>\\n"."""
    hooks = rendered.hooks() + [(path, yaml.safe_dump(doc, sort_keys=False).strip()) for path, doc in OTHER_HOOKS]
    return "".join(f"---\n# Source: {path}\n{manifest}\n" for path, manifest in hooks)


@pytest.mark.skipif(shutil.which("awk") is None, reason="no awk on this machine")
def test_the_documented_extraction_keeps_exactly_the_migration_jobs(helm, tmp_path):
    rendered = render(helm, {key: {"backfill": {"enabled": True}, "startup": {"enabled": True}} for key in VALUES_KEYS})
    hooks_file = tmp_path / "hooks.yaml"
    hooks_file.write_text(_helm_get_hooks(rendered))
    command = _extraction_command()
    assert "/tmp/hooks.yaml" in command and "/tmp/migrations.yaml" in command
    command = command.replace("/tmp/hooks.yaml", str(hooks_file)).replace(
        "/tmp/migrations.yaml", str(tmp_path / "m.yaml")
    )

    subprocess.run(["sh", "-c", command], check=True, timeout=30)

    extracted = [d for d in yaml.safe_load_all((tmp_path / "m.yaml").read_text()) if d]
    assert extracted == rendered.jobs
    assert len(extracted) == len(VALUES_KEYS)


def test_the_hook_jobs_are_valid_plain_jobs(helm):
    for job in render(helm).jobs:
        metadata = job["metadata"]
        # `kubectl -n <ns> apply` needs a fixed name and accepts the release's namespace.
        assert "generateName" not in metadata and metadata["name"]
        assert metadata["namespace"] == NAMESPACE
        # The only hook-specific fields are annotations, which Kubernetes ignores on a plain Job.
        helm_keys = [k for k in metadata.get("annotations", {}) if k.startswith("helm.sh/")]
        assert sorted(helm_keys) == sorted(
            [HOOK, "helm.sh/hook-weight", "helm.sh/hook-delete-policy", "helm.sh/hook-output-log-policy"]
        )
        text = yaml.safe_dump(job)
        assert "{{" not in text and ".Release" not in text
        # ... and `kubectl wait ... job -l app.kubernetes.io/name=scrydon` finds it.
        assert selects(RUNBOOK_SELECTOR, metadata["labels"])
