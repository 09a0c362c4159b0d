"""Training and GPU evaluation in a Kubernetes pod, through Dagster Pipes (`PipesK8sClient`).

The pod runs the same entry points as the subprocess route (`python -m bmw_assets.training.train`,
`accelerate launch …`, `python -m bmw_assets.evaluation.run`) from an image with the project
installed. It mounts the storage root (a PVC) at the very path the Dagster process uses, so the
spec files the assets write and the outputs the entry points write are where both sides look.
Secrets reach the container through Secret references only, never as values in the pod spec.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from pathlib import PurePosixPath
from typing import Any

import dagster as dg
from pydantic import Field

from bmw_assets.settings import KubernetesSettings
from bmw_assets.training.launch import training_env

GPU_RESOURCE = "nvidia.com/gpu"
CONTAINER_NAME = "bmw-compute"
STORAGE_VOLUME = "storage"
SHM_VOLUME = "dshm"
# Name parts that mark a variable as a credential: those come from a Secret, never from `env`.
_SECRET_NAME_PARTS = frozenset({"TOKEN", "SECRET", "PASSWORD", "KEY", "CREDENTIALS"})


class Toleration(dg.Config):
    """A Kubernetes toleration (the fields of core/v1 Toleration), e.g. for a GPU node taint."""

    key: str
    operator: str = "Exists"
    value: str | None = None
    effect: str | None = "NoSchedule"


class SecretEnvVar(dg.Config):
    """An environment variable that the kubelet fills from key `key` of Secret `secret`."""

    name: str
    secret: str
    key: str


class K8sPodSettings(dg.Config):
    """Where and how the compute pod runs.

    `storage_mount_path` must equal the storage root of the Dagster process (BMW_STORAGE):
    spec files name absolute paths under it. Sizes are Kubernetes quantities ("8", "64Gi").
    """

    image: str
    storage_claim: str  # a PVC holding the storage root; ReadWriteMany when run pods land on other nodes
    storage_mount_path: str
    namespace: str | None = None  # None: the namespace this process runs in, else "default"
    # How to reach the cluster; both None: in-cluster config inside a pod, else ~/.kube/config.
    kubeconfig_file: str | None = None
    kube_context: str | None = None
    image_pull_policy: str = "IfNotPresent"
    python: str = "python"  # the interpreter inside the image
    cpu_request: str = "8"
    memory_request: str = "64Gi"  # also the memory limit
    shm_size: str = "16Gi"  # /dev/shm for NCCL and data-loader workers; the container default is 64Mi
    service_account: str | None = None
    node_selector: dict[str, str] = {}
    tolerations: list[Toleration] = Field(default_factory=lambda: [Toleration(key=GPU_RESOURCE)])
    secret_env: list[SecretEnvVar] = []  # e.g. HF_TOKEN from Secret "hf-token", key "token"
    env_from_secrets: list[str] = []  # Secrets whose every key becomes a variable
    labels: dict[str, str] = {}


def pod_settings(deployment: KubernetesSettings, storage_root: str) -> K8sPodSettings:
    """K8sPodSettings from the deployment's `compute.kubernetes` section (image and storage claim
    required: the settings refuse a kubernetes launcher without them), mounting the claim at
    `storage_root`, the Dagster process's own storage root; `hf_token_secret` names a Secret whose
    key `token` becomes HF_TOKEN. ImportError without the `k8s` extra."""
    pipes_k8s_client()  # fail when the definitions load, not at the first training run
    if not deployment.image or not deployment.storage_claim:
        raise ValueError(
            "the kubernetes launcher needs an image and a storage claim (BMW_K8S_IMAGE, BMW_K8S_STORAGE_CLAIM)"
        )
    token_secret = deployment.hf_token_secret
    return K8sPodSettings(
        image=deployment.image,
        storage_claim=deployment.storage_claim,
        storage_mount_path=storage_root,
        namespace=deployment.namespace,
        service_account=deployment.service_account,
        secret_env=[SecretEnvVar(name="HF_TOKEN", secret=token_secret, key="token")] if token_secret else [],
    )


def pod_env(offline: bool) -> dict[str, str]:
    """Plain (non-secret) variables for the pod's entry point: those of `training_env` over an
    empty base, so nothing of the Dagster host (PATH, credentials) leaks into the image, and
    without PYTHONPATH, since the image has the package installed."""
    env = training_env({}, offline=offline)
    del env["PYTHONPATH"]
    return env


def pod_metadata(settings: K8sPodSettings) -> dict[str, Any]:
    """`base_pod_meta` for PipesK8sClient: the project label plus `settings.labels`."""
    return {"labels": {"app.kubernetes.io/part-of": "bmw-assets", **settings.labels}}


def pod_spec(command: Sequence[str], settings: K8sPodSettings, env: Mapping[str, str], gpus: int) -> dict[str, Any]:
    """`base_pod_spec` for PipesK8sClient (camelCase core/v1 PodSpec) running `command` in one
    container with `gpus` GPUs (0: CPU only).

    `command` is the argv the subprocess route would run (`training_command`, the evaluation
    module); when it starts with this process's interpreter, the image's `settings.python`
    takes its place. `env` holds plain values only; HF_HOME defaults to the storage mount so
    Hub downloads persist across pods. Raises ValueError when `env` carries a credential, when
    an `accelerate launch` process count differs from `gpus`, or when `--spec` lies outside
    the storage mount.
    """
    if gpus < 0:
        raise ValueError(f"gpus is {gpus}; expected 0 (CPU) or a positive GPU count")
    argv = list(command)
    if argv and argv[0] == sys.executable:
        argv[0] = settings.python
    _check_env_has_no_credentials(env, settings)
    _check_process_count(argv, gpus)
    _check_spec_on_storage(argv, settings.storage_mount_path)

    plain = {"HF_HOME": str(PurePosixPath(settings.storage_mount_path, "cache", "huggingface")), **env}
    env_list: list[dict[str, Any]] = [{"name": name, "value": value} for name, value in plain.items()]
    env_list += [
        {"name": s.name, "valueFrom": {"secretKeyRef": {"name": s.secret, "key": s.key}}} for s in settings.secret_env
    ]
    requests = {"cpu": settings.cpu_request, "memory": settings.memory_request}
    limits = {"memory": settings.memory_request}
    if gpus:
        requests[GPU_RESOURCE] = limits[GPU_RESOURCE] = str(gpus)

    container: dict[str, Any] = {
        "name": CONTAINER_NAME,
        "image": settings.image,
        "imagePullPolicy": settings.image_pull_policy,
        "command": argv,
        "env": env_list,
        "resources": {"requests": requests, "limits": limits},
        "volumeMounts": [
            {"name": STORAGE_VOLUME, "mountPath": settings.storage_mount_path},
            {"name": SHM_VOLUME, "mountPath": "/dev/shm"},
        ],
    }
    if settings.env_from_secrets:
        container["envFrom"] = [{"secretRef": {"name": name}} for name in settings.env_from_secrets]

    spec: dict[str, Any] = {
        "restartPolicy": "Never",  # a failed run is Dagster's to retry, not the kubelet's
        "containers": [container],
        "volumes": [
            {"name": STORAGE_VOLUME, "persistentVolumeClaim": {"claimName": settings.storage_claim}},
            {"name": SHM_VOLUME, "emptyDir": {"medium": "Memory", "sizeLimit": settings.shm_size}},
        ],
    }
    if settings.service_account:
        spec["serviceAccountName"] = settings.service_account
    if settings.node_selector:
        spec["nodeSelector"] = dict(settings.node_selector)
    if settings.tolerations:
        spec["tolerations"] = [{k: v for k, v in t.model_dump().items() if v is not None} for t in settings.tolerations]
    return spec


def pipes_k8s_client() -> type:
    """dagster_k8s.PipesK8sClient, imported only on the kubernetes route: dagster-k8s and the
    Kubernetes client come with the `k8s` extra, which the local profile does without."""
    try:
        from dagster_k8s import PipesK8sClient
    except ImportError as error:
        raise ImportError(
            f"the kubernetes launcher (BMW_LAUNCHER=kubernetes) needs dagster-k8s, which is missing ({error}); "
            "install the project with its k8s extra: pip install 'bmw_assets[k8s]' (or '.[k8s]' from a clone)"
        ) from error
    return PipesK8sClient


def run_in_pod(
    context: dg.AssetExecutionContext,
    command: Sequence[str],
    settings: K8sPodSettings,
    env: Mapping[str, str],
    gpus: int,
) -> dg.PipesClientCompletedInvocation:
    """Run `command` in a pod built by `pod_spec` and wait for it; logs and Pipes messages
    stream back from the pod's log. Raises when the pod fails or its command exits non-zero."""
    client = pipes_k8s_client()(kubeconfig_file=settings.kubeconfig_file, kube_context=settings.kube_context)
    return client.run(
        context=context,
        namespace=settings.namespace,
        base_pod_meta=pod_metadata(settings),
        base_pod_spec=pod_spec(command, settings, env, gpus),
    )


def _check_env_has_no_credentials(env: Mapping[str, str], settings: K8sPodSettings) -> None:
    from_secrets = {s.name for s in settings.secret_env}
    for name in env:
        if name in from_secrets or _SECRET_NAME_PARTS & set(name.upper().split("_")):
            raise ValueError(
                f"env sets {name}, a credential, as a plain value in the pod spec; "
                f"pass it through K8sPodSettings.secret_env (a Secret reference) instead"
            )


def _check_process_count(argv: Sequence[str], gpus: int) -> None:
    processes = _flag_value(argv, "--num_processes")
    if processes is not None and int(processes) != gpus:
        raise ValueError(
            f"the command launches {processes} processes but the pod gets {gpus} GPUs; "
            f"give ComputeResource.num_gpus and the pod the same count"
        )


def _check_spec_on_storage(argv: Sequence[str], mount_path: str) -> None:
    spec = _flag_value(argv, "--spec")
    if spec is not None and not PurePosixPath(spec).is_relative_to(mount_path):
        raise ValueError(
            f"--spec {spec} lies outside the pod's storage mount {mount_path}; set "
            f"K8sPodSettings.storage_mount_path to the storage root (BMW_STORAGE) that holds it"
        )


def _flag_value(argv: Sequence[str], flag: str) -> str | None:
    return argv[argv.index(flag) + 1] if flag in argv[:-1] else None
