"""deploy/k8s, checked without a cluster: every rendered manifest against the Kubernetes schemas.

The overlays are rendered by a small kustomize (tests/unit/deploy/kustomize.py), validated
strictly (unknown fields are errors) with the schemas ``kubernetes-validate`` bundles, and each
process's environment is loaded through ``Settings``.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest

from tests.unit.deploy.environment import (
    API_REQUIRED,
    REQUIRED,
    assert_production,
    load,
    unknown_names,
)
from tests.unit.deploy.kustomize import (
    Doc,
    UnsupportedKustomization,
    containers,
    load_documents,
    merge,
    pod_spec,
    render,
)

K8S = Path(__file__).parents[3] / "deploy" / "k8s"
KUBERNETES_VERSION = "1.30.0"
OVERLAYS = ("cpu", "gpu")
SHARED_MEMORY = "/dev/shm"  # noqa: S108 - the pod's shared memory, which NCCL uses
PROCESSES = {"tonebridge-worker", "tonebridge-trainer", "tonebridge-api", "tonebridge-migrate"}


@pytest.fixture(scope="module", params=OVERLAYS)
def overlay(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture(scope="module")
def docs(overlay: str) -> list[Doc]:
    return render(K8S / "overlays" / overlay)


def find(docs: list[Doc], kind: str, name: str) -> Doc:
    (doc,) = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    return doc


def container(docs: list[Doc], kind: str, name: str) -> Doc:
    spec = pod_spec(find(docs, kind, name))
    assert spec is not None
    (only,) = spec["containers"]
    return dict(only)


def environment(docs: list[Doc], workload: Doc) -> dict[str, str]:
    """What the workload's container sees: its ConfigMaps and Secrets, then its own env."""
    spec = pod_spec(workload)
    assert spec is not None
    (box,) = spec["containers"]
    env: dict[str, str] = {}
    for source in box.get("envFrom", []):
        if "configMapRef" in source:
            env |= find(docs, "ConfigMap", source["configMapRef"]["name"])["data"]
        else:
            env |= find(docs, "Secret", source["secretRef"]["name"])["stringData"]
    return env | {item["name"]: item["value"] for item in box.get("env", [])}


def test_every_rendered_manifest_is_valid_for_kubernetes(docs: list[Doc]) -> None:
    for doc in docs:
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


def test_the_base_files_are_valid_alone() -> None:
    for path in sorted(K8S.glob("base/*.yaml")):
        if path.name != "kustomization.yaml":
            for doc in load_documents(path):
                kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


def test_validation_refuses_an_unknown_field(docs: list[Doc]) -> None:
    broken = copy.deepcopy(find(docs, "Deployment", "tonebridge-api"))
    broken["spec"]["replica"] = 2
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)


def test_the_renderer_refuses_what_it_does_not_implement(tmp_path: Path) -> None:
    (tmp_path / "kustomization.yaml").write_text("resources: []\ncommonLabels: {a: b}\n")
    with pytest.raises(UnsupportedKustomization, match="commonLabels"):
        render(tmp_path)


def test_strategic_merge_merges_named_lists_and_replaces_others() -> None:
    target = {"containers": [{"name": "a", "image": "x", "args": ["1"]}], "tolerations": [1]}
    patch = {"containers": [{"name": "a", "image": "y"}, {"name": "b"}], "tolerations": [2]}
    assert merge(target, patch) == {
        "containers": [{"name": "a", "image": "y", "args": ["1"]}, {"name": "b"}],
        "tolerations": [2],
    }


def test_the_processes_and_their_settings_exist(docs: list[Doc]) -> None:
    kinds = {(d["kind"], d["metadata"]["name"]) for d in docs}
    assert {
        ("Deployment", "tonebridge-worker"),
        ("HorizontalPodAutoscaler", "tonebridge-worker"),
        ("StatefulSet", "tonebridge-trainer"),
        ("Deployment", "tonebridge-api"),
        ("Service", "tonebridge-api"),
        ("HorizontalPodAutoscaler", "tonebridge-api"),
        ("Job", "tonebridge-migrate"),
        ("Job", "tonebridge-topics"),
        ("ConfigMap", "tonebridge-settings"),
        ("Secret", "tonebridge-postgres"),
        ("Secret", "tonebridge-api-keys"),
    } <= kinds
    assert all(
        d["metadata"].get("namespace") == "tonebridge" for d in docs if d["kind"] != "Namespace"
    )


def test_the_worker_scales_up_to_the_partition_count(docs: list[Doc]) -> None:
    partitions = int(
        find(docs, "ConfigMap", "tonebridge-settings")["data"]["KAFKA_TOPIC_PARTITIONS"]
    )
    hpa = find(docs, "HorizontalPodAutoscaler", "tonebridge-worker")["spec"]
    assert hpa["maxReplicas"] == partitions
    assert hpa["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "tonebridge-worker",
    }


def test_the_api_has_probes_a_service_and_an_autoscaler(docs: list[Doc]) -> None:
    api = container(docs, "Deployment", "tonebridge-api")
    env = {item["name"]: item["value"] for item in api["env"]}
    (port,) = api["ports"]
    assert port["containerPort"] == int(env["API_PORT"])
    assert api["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": port["name"]}
    assert api["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": port["name"]}
    (service_port,) = find(docs, "Service", "tonebridge-api")["spec"]["ports"]
    assert service_port["targetPort"] == port["name"]
    hpa = find(docs, "HorizontalPodAutoscaler", "tonebridge-api")["spec"]
    assert hpa["scaleTargetRef"]["name"] == "tonebridge-api"
    assert hpa["minReplicas"] >= 2


@pytest.mark.parametrize(
    ("kind", "name"), [("Deployment", "tonebridge-worker"), ("StatefulSet", "tonebridge-trainer")]
)
def test_the_worker_and_the_trainer_serve_metrics_and_liveness(
    docs: list[Doc], kind: str, name: str
) -> None:
    box, env = container(docs, kind, name), environment(docs, find(docs, kind, name))
    (port,) = box["ports"]
    assert port["containerPort"] == int(env["METRICS_PORT"])
    assert env["METRICS_HOST"] == "0.0.0.0"  # noqa: S104 - a pod is scraped from outside
    assert box["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": port["name"]}
    annotations = find(docs, kind, name)["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/port"] == env["METRICS_PORT"]


def test_the_migration_job_upgrades_the_database(docs: list[Doc]) -> None:
    assert container(docs, "Job", "tonebridge-migrate")["args"] == ["db", "upgrade"]
    assert container(docs, "Job", "tonebridge-topics")["args"][:2] == ["topics", "create"]


def test_only_the_gpu_overlay_puts_the_trainer_on_a_gpu(docs: list[Doc], overlay: str) -> None:
    trainer = find(docs, "StatefulSet", "tonebridge-trainer")
    spec = pod_spec(trainer)
    assert spec is not None
    (box,) = spec["containers"]
    limits, requests = box["resources"]["limits"], box["resources"]["requests"]
    if overlay == "gpu":
        assert limits["nvidia.com/gpu"] == requests["nvidia.com/gpu"] == 1
        assert spec["nodeSelector"]
        assert box["image"].split(":")[0] == "tonebridge-cuda"
    else:
        assert "nvidia.com/gpu" not in limits and "nodeSelector" not in spec
        assert box["image"].split(":")[0] == "tonebridge"


def test_the_gpu_trainer_trains_one_job_on_every_gpu_it_gets(docs: list[Doc], overlay: str) -> None:
    trainer = find(docs, "StatefulSet", "tonebridge-trainer")
    processes = environment(docs, trainer).get("TRAIN_PROCESSES")
    spec = pod_spec(trainer)
    assert spec is not None
    memory = [v["name"] for v in spec["volumes"] if v.get("emptyDir", {}).get("medium") == "Memory"]
    shm = [
        m["name"]
        for m in spec["containers"][0].get("volumeMounts", [])
        if m["mountPath"] == SHARED_MEMORY
    ]
    if overlay == "gpu":
        assert processes == "auto" and shm == memory == ["dshm"]  # NCCL's shared memory
    else:
        assert processes is None and shm == []


def test_every_image_is_tagged_by_the_overlay(docs: list[Doc]) -> None:
    assert all(":" in c["image"] for c in containers(docs))


@pytest.mark.parametrize("kind_name", sorted(PROCESSES | {"tonebridge-topics"}))
def test_processes_read_only_settings_fields(docs: list[Doc], kind_name: str) -> None:
    (workload,) = [d for d in docs if d["metadata"]["name"] == kind_name and pod_spec(d)]
    env = environment(docs, workload)
    assert not unknown_names(env), sorted(unknown_names(env))
    if kind_name in PROCESSES:
        assert (API_REQUIRED if kind_name == "tonebridge-api" else REQUIRED) <= set(env)


@pytest.mark.parametrize("name", sorted(PROCESSES))
def test_processes_read_production_settings(
    docs: list[Doc], name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    (workload,) = [d for d in docs if d["metadata"]["name"] == name and pod_spec(d)]
    assert_production(load(environment(docs, workload), monkeypatch), api=name == "tonebridge-api")


def test_secrets_hold_placeholders_only(docs: list[Doc]) -> None:
    secrets = [d for d in docs if d["kind"] == "Secret"]
    assert secrets
    for secret in secrets:
        assert "data" not in secret
        assert all("change-me" in value for value in secret["stringData"].values())


def test_pods_run_as_a_user_that_is_not_root(docs: list[Doc]) -> None:
    specs: list[Any] = [spec for spec in map(pod_spec, docs) if spec]
    assert len(specs) == 5
    for spec in specs:
        assert spec["securityContext"]["runAsNonRoot"] is True
        assert spec["securityContext"]["runAsUser"] != 0
        for box in spec["containers"]:
            assert box["securityContext"]["allowPrivilegeEscalation"] is False
