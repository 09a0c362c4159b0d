"""The Kubernetes route: the pod spec built for training and evaluation commands, its
acceptance by dagster-k8s, and a Pipes round trip through PipesK8sClient.

No cluster runs here. The pod-spec tests need none; the round trip replaces only the
Kubernetes API (CoreV1Api) with a stand-in kubelet that runs the container's command as a
local process, resolving Secret references from an in-memory store, and serves its output
as the pod log. Everything else (PipesK8sClient, kubeconfig loading, the Pipes protocol over
the pod log, Dagster's config system) is real.
"""

import hashlib
import json
import subprocess
import sys
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import dagster as dg
import kubernetes
import pytest
from dagster_k8s.pipes import build_pod_body

from bmw_assets.definitions import build_resources
from bmw_assets.defs.kubernetes import (
    CONTAINER_NAME,
    K8sPodSettings,
    SecretEnvVar,
    pod_env,
    pod_metadata,
    pod_settings,
    pod_spec,
)
from bmw_assets.defs.resources import ComputeResource
from bmw_assets.models.config import ConfigError
from bmw_assets.settings import load_settings
from bmw_assets.training.launch import training_command

STORAGE_ROOT = "/mnt/bmw-storage"
SPEC = f"{STORAGE_ROOT}/models/original/20260101-abc.run_spec.json"
HOST_TOKEN = "hf_value_of_the_dagster_host"


def settings(**overrides) -> K8sPodSettings:
    values = dict(
        image="registry.example/bmw-assets:1.2.3",
        storage_claim="bmw-storage",
        storage_mount_path=STORAGE_ROOT,
        namespace="bmw",
        node_selector={"nvidia.com/gpu.present": "true"},
        secret_env=[SecretEnvVar(name="HF_TOKEN", secret="hf-token", key="token")],
        service_account="bmw-compute",
    )
    return K8sPodSettings(**{**values, **overrides})


@pytest.fixture(autouse=True)
def token_on_host(monkeypatch):
    # The Dagster host has a token in its environment; none of it may reach a pod spec.
    monkeypatch.setenv("HF_TOKEN", HOST_TOKEN)


def container_of(spec: dict) -> dict:
    assert len(spec["containers"]) == 1
    return spec["containers"][0]


def plain_env(container: dict) -> dict[str, str]:
    return {e["name"]: e["value"] for e in container["env"] if "value" in e}


def test_lora_training_on_one_gpu():
    command = training_command(SPEC, num_gpus=1, fsdp=False)
    spec = pod_spec(command, settings(), pod_env(offline=True), gpus=1)
    container = container_of(spec)

    assert container["image"] == "registry.example/bmw-assets:1.2.3"
    assert container["command"] == ["python", "-m", "bmw_assets.training.train", "--spec", SPEC]
    assert container["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert container["resources"]["requests"]["nvidia.com/gpu"] == "1"
    assert spec["restartPolicy"] == "Never"
    assert spec["serviceAccountName"] == "bmw-compute"
    assert spec["nodeSelector"] == {"nvidia.com/gpu.present": "true"}
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in spec["tolerations"]

    volumes = {v["name"]: v for v in spec["volumes"]}
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    assert volumes[mounts[STORAGE_ROOT]]["persistentVolumeClaim"] == {"claimName": "bmw-storage"}
    assert volumes[mounts["/dev/shm"]]["emptyDir"]["medium"] == "Memory"

    env = plain_env(container)
    assert env["HF_HUB_OFFLINE"] == "1" and env["TRANSFORMERS_OFFLINE"] == "1"
    assert env["HF_HOME"] == f"{STORAGE_ROOT}/cache/huggingface"  # downloads persist on the PVC
    assert "PYTHONPATH" not in env and "PATH" not in env  # nothing of the Dagster host


def test_full_fsdp_training_on_two_gpus():
    command = training_command(SPEC, num_gpus=2, fsdp=True)
    container = container_of(pod_spec(command, settings(), pod_env(offline=False), gpus=2))

    assert container["command"] == ["python", *command[1:]]
    assert container["command"][1:3] == ["-m", "accelerate.commands.launch"]
    launch = container["command"]
    assert launch[launch.index("--num_processes") + 1] == "2"
    assert "--use_fsdp" in launch and launch[-2:] == ["--spec", SPEC]
    assert container["resources"]["limits"]["nvidia.com/gpu"] == "2"
    assert "HF_HUB_OFFLINE" not in plain_env(container)  # production reaches the Hub


def test_token_comes_from_the_secret_and_never_as_a_value():
    spec = pod_spec(training_command(SPEC, 1, False), settings(env_from_secrets=["wandb"]), pod_env(True), gpus=1)
    container = container_of(spec)

    token = [e for e in container["env"] if e["name"] == "HF_TOKEN"]
    assert token == [{"name": "HF_TOKEN", "valueFrom": {"secretKeyRef": {"name": "hf-token", "key": "token"}}}]
    assert container["envFrom"] == [{"secretRef": {"name": "wandb"}}]
    assert HOST_TOKEN not in json.dumps(spec)


def test_credentials_in_plain_env_are_refused():
    with pytest.raises(ValueError, match="HF_TOKEN.*secret_env"):
        pod_spec(training_command(SPEC, 1, False), settings(), {"HF_TOKEN": "hf_x"}, gpus=1)
    with pytest.raises(ValueError, match="OPENAI_API_KEY"):
        pod_spec(training_command(SPEC, 1, False), settings(), {"OPENAI_API_KEY": "sk"}, gpus=1)


def test_process_count_and_gpus_must_agree():
    with pytest.raises(ValueError, match="launches 2 processes but the pod gets 4 GPUs"):
        pod_spec(training_command(SPEC, 2, True), settings(), pod_env(True), gpus=4)


def test_spec_outside_the_storage_mount_is_refused():
    with pytest.raises(ValueError, match="outside the pod's storage mount /mnt/bmw-storage"):
        pod_spec(training_command("/home/me/storage/x.json", 1, False), settings(), pod_env(True), gpus=1)


def test_cpu_pod_asks_for_no_gpu():
    evaluation = [sys.executable, "-m", "bmw_assets.evaluation.run", "--spec", SPEC]
    container = container_of(pod_spec(evaluation, settings(), pod_env(True), gpus=0))
    assert "nvidia.com/gpu" not in container["resources"]["limits"]
    assert container["command"][0] == "python"


def test_dagster_k8s_builds_the_pod_from_our_spec():
    """dagster-k8s merges our spec with the Pipes bootstrap variables into a typed V1Pod;
    a key it does not know (a typo in our camelCase) would raise here."""
    command = training_command(SPEC, num_gpus=2, fsdp=False)
    pod = build_pod_body(
        pod_name="dagster-pipes-abc",
        image=None,
        command=None,
        env_vars={"DAGSTER_PIPES_CONTEXT": "ctx", "DAGSTER_PIPES_MESSAGES": "msg"},
        base_pod_meta=pod_metadata(settings()),
        base_pod_spec=pod_spec(command, settings(), pod_env(True), gpus=2),
    )
    assert isinstance(pod, kubernetes.client.V1Pod)
    assert pod.metadata.labels["app.kubernetes.io/part-of"] == "bmw-assets"
    assert pod.spec.restart_policy == "Never"
    container = pod.spec.containers[0]
    assert container.name == CONTAINER_NAME
    assert container.image == "registry.example/bmw-assets:1.2.3"
    assert container.command == ["python", *command[1:]]
    assert container.resources.limits["nvidia.com/gpu"] == "2"
    assert container.volume_mounts[0].mount_path == STORAGE_ROOT
    assert pod.spec.volumes[0].persistent_volume_claim.claim_name == "bmw-storage"
    env = {e.name: e for e in container.env}
    assert env["DAGSTER_PIPES_CONTEXT"].value == "ctx"  # Pipes' bootstrap variables were added
    assert env["HF_TOKEN"].value is None
    assert env["HF_TOKEN"].value_from.secret_key_ref.name == "hf-token"

    with pytest.raises(Exception, match="volumeMount"):
        spec = pod_spec(command, settings(), pod_env(True), gpus=2)
        spec["containers"][0]["volumeMount"] = spec["containers"][0].pop("volumeMounts")
        build_pod_body("p", None, None, {}, None, spec)


def test_pod_settings_from_the_deployment_settings():
    environ = {"BMW_STORAGE": STORAGE_ROOT, "BMW_LAUNCHER": "kubernetes", "BMW_K8S_IMAGE": "img:1",
               "BMW_K8S_STORAGE_CLAIM": "claim", "BMW_K8S_HF_TOKEN_SECRET": "hf-token"}  # fmt: skip
    compute = build_resources(load_settings(environ))["compute"]
    pods = compute.kubernetes
    assert compute.launcher == "kubernetes"
    assert (pods.image, pods.storage_claim, pods.storage_mount_path) == ("img:1", "claim", STORAGE_ROOT)
    assert pods.namespace is None
    assert [(s.name, s.secret, s.key) for s in pods.secret_env] == [("HF_TOKEN", "hf-token", "token")]
    no_token = load_settings({**environ, "BMW_K8S_HF_TOKEN_SECRET": ""})
    assert pod_settings(no_token.compute.kubernetes, STORAGE_ROOT).secret_env == []
    with pytest.raises(ConfigError, match="BMW_K8S_IMAGE.*BMW_K8S_STORAGE_CLAIM"):
        load_settings({"BMW_LAUNCHER": "kubernetes"})


class StandInKubelet:
    """Replaces kubernetes.client.CoreV1Api: creating a pod runs its container's command
    here, with the container's env (Secret references resolved from `secrets`)."""

    secrets: dict[str, dict[str, str]] = {}
    created: list = []
    deleted: list = []

    def __init__(self, api_client=None):
        self.log_lines: list[str] = []
        self.exit_code: int | None = None

    def create_namespaced_pod(self, namespace, body):
        StandInKubelet.created.append((namespace, body))
        container = body.spec.containers[0]
        env = {}
        for var in container.env:
            ref = var.value_from.secret_key_ref if var.value_from else None
            env[var.name] = self.secrets[ref.name][ref.key] if ref else var.value
        done = subprocess.run(container.command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True, timeout=60)  # fmt: skip
        start = datetime(2026, 1, 1, tzinfo=UTC)
        self.log_lines = [
            f"{(start + timedelta(milliseconds=i)).strftime('%Y-%m-%dT%H:%M:%S.%fZ')} {line}"
            for i, line in enumerate(done.stdout.splitlines())
        ]
        self.exit_code = done.returncode

    def list_namespaced_pod(self, namespace, field_selector):
        state = SimpleNamespace(running=None, waiting=None, terminated=SimpleNamespace(exit_code=self.exit_code))
        status = SimpleNamespace(name=CONTAINER_NAME, ready=False, state=state)
        pod = SimpleNamespace(status=SimpleNamespace(init_container_statuses=None, container_statuses=[status]))
        return SimpleNamespace(items=[pod])

    def read_namespaced_pod_log(self, name, namespace, **kwargs):
        return [f"{line}\n".encode() for line in self.log_lines]

    def delete_namespaced_pod(self, name, namespace):
        StandInKubelet.deleted.append(name)


POD_SCRIPT = textwrap.dedent(
    """
    import hashlib
    import os
    from dagster_pipes import open_dagster_pipes

    with open_dagster_pipes() as pipes:
        pipes.log.info("training in the pod")
        pipes.report_asset_materialization(metadata={
            "token_sha256": hashlib.sha256(os.environ.get("HF_TOKEN", "").encode()).hexdigest(),
            "hub_offline": os.environ.get("HF_HUB_OFFLINE", "unset"),
            "hf_home": os.environ["HF_HOME"],
        })
    """
)


def test_run_in_pod_round_trip_through_pipes_k8s_client(tmp_path, monkeypatch):
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: nowhere\n"
        "clusters: [{name: nowhere, cluster: {server: 'https://127.0.0.1:9'}}]\n"
        "users: [{name: nobody, user: {}}]\n"
        "contexts: [{name: nowhere, context: {cluster: nowhere, user: nobody}}]\n"
    )
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.setattr(kubernetes.client, "CoreV1Api", StandInKubelet)  # the only stand-in
    monkeypatch.setattr(StandInKubelet, "secrets", {"hf-token": {"token": "hf_from_the_secret"}})
    monkeypatch.setattr(StandInKubelet, "created", [])
    monkeypatch.setattr(StandInKubelet, "deleted", [])

    @dg.asset
    def trained_in_pod(context: dg.AssetExecutionContext, compute: ComputeResource) -> dg.MaterializeResult:
        return compute.run_command(context, [sys.executable, "-c", POD_SCRIPT], gpus=1).get_materialize_result()

    route = ComputeResource(
        num_gpus=1, launcher="kubernetes", kubernetes=settings(python=sys.executable, kubeconfig_file=str(kubeconfig))
    )
    result = dg.materialize([trained_in_pod], resources={"compute": route})

    assert result.success
    metadata = result.asset_materializations_for_node("trained_in_pod")[0].metadata
    assert metadata["token_sha256"].value == hashlib.sha256(b"hf_from_the_secret").hexdigest()
    assert metadata["hub_offline"].value == "1"
    assert metadata["hf_home"].value == f"{STORAGE_ROOT}/cache/huggingface"
    [(namespace, body)] = StandInKubelet.created
    assert namespace == "bmw"
    assert body.spec.containers[0].resources.limits["nvidia.com/gpu"] == "1"
    assert body.spec.tolerations[0].key == "nvidia.com/gpu"  # default toleration survived Dagster's config
    assert StandInKubelet.deleted == [body.metadata.name]
    assert "hf_from_the_secret" not in json.dumps(kubernetes.client.ApiClient().sanitize_for_serialization(body))


def test_the_kubernetes_launcher_without_pod_settings_says_what_is_missing():
    @dg.asset
    def nowhere(context: dg.AssetExecutionContext, compute: ComputeResource) -> None:
        compute.run_command(context, [sys.executable, "-c", "pass"], gpus=1)

    with pytest.raises(ValueError, match="BMW_K8S_IMAGE"):
        dg.materialize([nowhere], resources={"compute": ComputeResource(launcher="kubernetes")})


# Imports as if dagster-k8s and the Kubernetes client were not installed (no `k8s` extra).
WITHOUT_K8S_EXTRA = """
import sys
sys.modules.update({"dagster_k8s": None, "kubernetes": None})
try:
    import bmw_assets.definitions
except ImportError as error:
    print("ImportError:", error)
else:
    print("loaded", len(bmw_assets.definitions.defs.resolve_asset_graph().get_all_asset_keys()), "assets")
"""


@pytest.mark.parametrize("launcher", ["subprocess", "kubernetes"])
def test_only_the_kubernetes_launcher_needs_the_k8s_extra(tmp_path, launcher):
    env = {
        "PATH": "/usr/bin:/bin",
        "HF_HUB_OFFLINE": "1",
        "BMW_STORAGE": str(tmp_path),
        "BMW_LAUNCHER": launcher,
        "BMW_K8S_IMAGE": "registry.example/bmw-assets:1",
        "BMW_K8S_STORAGE_CLAIM": "bmw-storage",
    }
    loaded = subprocess.run(
        [sys.executable, "-c", WITHOUT_K8S_EXTRA],
        capture_output=True,
        text=True,
        env=env,
        cwd=Path(__file__).parents[2],
        timeout=300,
    )
    assert loaded.returncode == 0, loaded.stderr[-3000:]
    if launcher == "subprocess":  # the local route loads without the extra
        assert loaded.stdout.startswith("loaded ") and " 0 assets" not in loaded.stdout, loaded.stdout
    else:  # the kubernetes route says what to install, when the definitions load
        assert "ImportError: the kubernetes launcher (BMW_LAUNCHER=kubernetes) needs dagster-k8s" in loaded.stdout
        assert "pip install 'bmw_assets[k8s]'" in loaded.stdout
