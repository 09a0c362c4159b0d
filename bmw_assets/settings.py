"""The deployment settings: where the code location runs, read once and validated.

`BMW_PROFILE` (default `local`) names `configs/profiles/<profile>.yaml`; its `deployment:`
section says which press room, paragraph filter, compute and pools the code location uses.
`BMW_CONFIGS_DIR` points at another configs folder (same layout). Every other variable in
`ENVIRONMENT` overrides one key of that section; `load_settings` is the one place that reads
them. The README lists them all (a test keeps the two in step).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from bmw_assets.models.config import DEFAULT_CONFIGS_DIR, DEPLOYMENT_KEY, ConfigError, read_profile
from bmw_assets.replica.corpus import REPLICA_SIZE

# A profile name becomes a file name under profiles/: nothing a path can hide in.
PROFILE_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]*$")


@dataclass(frozen=True)
class StorageLayout:
    """Where each kind of runtime state lives under the storage root."""

    root: Path

    @property
    def catalog_path(self) -> Path:
        return self.root / "catalog.duckdb"

    @property
    def raw_pdf_dir(self) -> Path:
        return self.root / "raw" / "pdfs"

    @property
    def text_dir(self) -> Path:
        return self.root / "text"

    @property
    def datasets_dir(self) -> Path:
        return self.root / "datasets"

    @property
    def models_dir(self) -> Path:
        return self.root / "models"

    @property
    def reports_dir(self) -> Path:
        return self.root / "reports"

    @property
    def manifests_dir(self) -> Path:
        return self.root / "manifests"

    @property
    def cache_dir(self) -> Path:
        return self.root / "cache"

    @property
    def dagster_home(self) -> Path:
        return self.root / "dagster"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PressRoomSettings(_Section):
    """`site` "replica": the project's own PressClub replica on loopback (`url`: one already running,
    else the packaged one is started, serving `replica_size` articles); "live": the real PressClub."""

    site: Literal["replica", "live"]
    url: str | None = None
    replica_size: int = Field(default=REPLICA_SIZE, gt=0)
    default_target: int = Field(gt=0)  # articles article_index aims for

    @model_validator(mode="after")
    def _url_only_for_the_replica(self) -> PressRoomSettings:
        if self.site == "live" and self.url:
            raise ValueError(f"url {self.url!r} is set, but the live site is the real PressClub; use site: replica")
        return self


class ParagraphFilterSettings(_Section):
    """What judges paragraphs behind `llm_text` (`method`), and where the LLM is (`endpoint`):
    "local": `base_url` if given, else the packaged model under `transformers serve`, started on
    demand; "remote": an OpenAI-compatible endpoint (vLLM, OpenAI) at `base_url`, its key in the
    variable named `api_key_env`. Paragraphs longer than `max_judged_chars` are kept unasked;
    one whose keep probability is below `keep_threshold` is dropped."""

    method: Literal["llm", "classifier"]
    endpoint: Literal["local", "remote"]
    base_url: str | None = None
    model: str | None = None
    api_key_env: str = "OPENAI_API_KEY"
    concurrency: int = Field(gt=0)  # requests in flight
    max_judged_chars: int | None = Field(default=None, gt=0)
    keep_threshold: float = Field(ge=0.0, le=1.0)

    @model_validator(mode="after")
    def _a_remote_llm_needs_its_url(self) -> ParagraphFilterSettings:
        if self.method == "llm" and self.endpoint == "remote" and not self.base_url:
            raise ValueError("a remote endpoint needs base_url (BMW_LLM_BASE_URL, a vLLM or OpenAI /v1 URL)")
        return self


class KubernetesSettings(_Section):
    """The GPU pods of `launcher: kubernetes` (docs/deploy.md): `image` and `storage_claim` (a PVC
    holding the storage root) are required there; `hf_token_secret` names a Secret whose key
    `token` becomes HF_TOKEN in the pod."""

    image: str | None = None
    storage_claim: str | None = None
    namespace: str | None = None
    service_account: str | None = None
    hf_token_secret: str | None = None


class ComputeSettings(_Section):
    """Where training and evaluation run: `launcher` "subprocess" on this host over `num_gpus`
    GPUs (0: CPU), or "kubernetes" in GPU pods; `hub_offline` keeps them off the Hugging Face Hub."""

    launcher: Literal["subprocess", "kubernetes"] = "subprocess"
    num_gpus: int = Field(default=0, ge=0)
    hub_offline: bool
    kubernetes: KubernetesSettings = KubernetesSettings()

    @model_validator(mode="after")
    def _pods_need_an_image_and_a_claim(self) -> ComputeSettings:
        missing = [f"compute.kubernetes.{name}" for name in ("image", "storage_claim")
                   if not getattr(self.kubernetes, name)]  # fmt: skip
        if self.launcher == "kubernetes" and missing:
            names = " and ".join(f"{key} ({_variable_for(key)})" for key in missing)
            raise ValueError(f"the kubernetes launcher needs {names}: the pods' image; the PVC of the storage root")
        return self


class PoolSettings(_Section):
    """The Dagster pool of the evaluation assets; None: `gpu` when training runs on this host's GPUs
    (an evaluation then waits for the training in progress), else `evaluation`.

    Measured on one H200: Qwen3-8B full fine-tuning peaks at 118 GiB of 140, an 8B evaluation at
    22-26 GiB, so the two do not fit side by side; on CPU, beside LoRA's 54 GiB, or in pods with GPUs
    of their own they do, and the `evaluation` pool evaluates one variant while the next one trains."""

    evaluation: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_-]+$")


class FailurePolicySettings(_Section):
    """Failed items (articles, PDFs, texts) above `max_failure_rate` fail the data assets' checks,
    as a warning (WARN) or as an error stopping downstream assets (ERROR)."""

    max_failure_rate: float = Field(default=0.1, ge=0.0, le=1.0)
    severity: Literal["WARN", "ERROR"] = "WARN"


class Settings(_Section):
    """One deployment: the profile, the storage root, the configs folder and the `deployment:`
    section of the profile with the environment's overrides laid on it."""

    profile: str
    storage_root: Path
    configs_dir: Path
    pressclub: PressRoomSettings
    paragraph_filter: ParagraphFilterSettings
    compute: ComputeSettings
    pools: PoolSettings = PoolSettings()
    failure_policy: FailurePolicySettings = FailurePolicySettings()
    retrain_min_new_articles: int = 0  # <= 0: new press releases never retrain a model

    @property
    def storage(self) -> StorageLayout:
        return StorageLayout(self.storage_root)

    @property
    def evaluation_pool(self) -> str:
        if self.pools.evaluation:
            return self.pools.evaluation
        on_this_host = self.compute.launcher == "subprocess" and self.compute.num_gpus > 0
        return "gpu" if on_this_host else "evaluation"


@dataclass(frozen=True)
class EnvironmentVariable:
    name: str
    key: str | None  # the dotted key of Settings it sets; None: read where it is used
    meaning: str


# Every variable the code location reads, and the setting each overrides.
ENVIRONMENT = (
    EnvironmentVariable("BMW_PROFILE", "profile", "the profile: `configs/profiles/<name>.yaml` (default `local`)"),
    EnvironmentVariable("BMW_CONFIGS_DIR", "configs_dir",
                        "another configs folder (base.yaml, variants/, profiles/): the variant partitions and "
                        "the configs they load"),
    EnvironmentVariable("BMW_STORAGE", "storage_root", "the root of all runtime state (default `./storage`)"),
    EnvironmentVariable("BMW_PRESSCLUB_URL", "pressclub.url", "an already running replica (tests, a shared replica)"),
    EnvironmentVariable("BMW_REPLICA_SIZE", "pressclub.replica_size", "articles the replica serves (default 400)"),
    EnvironmentVariable("BMW_FILTER_METHOD", "paragraph_filter.method",
                        "`classifier` (MiniLM) or `llm` (the endpoint) judges paragraphs"),
    EnvironmentVariable("BMW_LLM_BASE_URL", "paragraph_filter.base_url",
                        "the OpenAI-compatible /v1 URL of the filter's LLM (required by `endpoint: remote`)"),
    EnvironmentVariable("BMW_LLM_MODEL", "paragraph_filter.model", "the model id served there"),
    EnvironmentVariable("BMW_LAUNCHER", "compute.launcher",
                        "`subprocess` (this host) or `kubernetes` (GPU pods) for training and evaluation"),
    EnvironmentVariable("BMW_NUM_GPUS", "compute.num_gpus", "GPUs per training run (`accelerate launch` above 1)"),
    EnvironmentVariable("BMW_K8S_IMAGE", "compute.kubernetes.image", "the GPU pods' image"),
    EnvironmentVariable("BMW_K8S_STORAGE_CLAIM", "compute.kubernetes.storage_claim",
                        "the PVC holding the storage root, mounted at the same path in the pods"),
    EnvironmentVariable("BMW_K8S_NAMESPACE", "compute.kubernetes.namespace", "the GPU pods' namespace"),
    EnvironmentVariable("BMW_K8S_SERVICE_ACCOUNT", "compute.kubernetes.service_account",
                        "the GPU pods' service account"),
    EnvironmentVariable("BMW_K8S_HF_TOKEN_SECRET", "compute.kubernetes.hf_token_secret",
                        "a Secret whose key `token` becomes HF_TOKEN in the GPU pods"),
    EnvironmentVariable("BMW_EVALUATION_POOL", "pools.evaluation", "the Dagster pool of the evaluation assets"),
    EnvironmentVariable("BMW_MAX_FAILURE_RATE", "failure_policy.max_failure_rate",
                        "share of failed items above which the data assets' checks fail (default 0.1)"),
    EnvironmentVariable("BMW_FAILURE_SEVERITY", "failure_policy.severity",
                        "`WARN` (default) or `ERROR`: a failed check stops downstream assets"),
    EnvironmentVariable("BMW_RETRAIN_MIN_NEW_ARTICLES", "retrain_min_new_articles",
                        "retrain a variant whose dataset lacks this many new articles (default 0: never)"),
    EnvironmentVariable("BMW_HUB_ENDPOINT", None,
                        "one Hub besides huggingface.co that may receive a Hub token"),
)  # fmt: skip


def _variable_for(key: str) -> str:
    return next(v.name for v in ENVIRONMENT if v.key == key)


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """The settings of `environ` (default: this process's environment): the profile's `deployment:`
    section with the variables of ENVIRONMENT laid on it. Raises ConfigError naming the profile
    file or the variable whose value is wrong, and what would be right."""
    env = os.environ if environ is None else environ
    given = {v.key: env[v.name].strip() for v in ENVIRONMENT if v.key and env.get(v.name, "").strip()}
    profile = given.pop("profile", "local")
    if not PROFILE_NAME.match(profile):
        raise ConfigError(f"BMW_PROFILE={profile!r} is not a profile name: names match {PROFILE_NAME.pattern}")
    configs_dir = Path(given.pop("configs_dir", DEFAULT_CONFIGS_DIR)).expanduser().resolve()
    profile_file = configs_dir / "profiles" / f"{profile}.yaml"
    deployment = read_profile(profile, configs_dir).get(DEPLOYMENT_KEY)
    if not isinstance(deployment, dict):
        raise ConfigError(f"{profile_file}: no `{DEPLOYMENT_KEY}:` mapping, so {profile!r} cannot be deployed; "
                          f"add one (see configs/profiles/local.yaml) or pick another BMW_PROFILE")  # fmt: skip
    values: dict[str, Any] = {"storage_root": "storage", **deployment, "profile": profile, "configs_dir": configs_dir}
    for key, value in given.items():
        _set_dotted(values, key, value)
    values["storage_root"] = Path(values["storage_root"]).expanduser().resolve()
    try:
        return Settings.model_validate(values)
    except ValidationError as error:
        raise ConfigError(_describe(error, given, profile_file)) from None


def _set_dotted(values: dict[str, Any], key: str, value: str) -> None:
    *parents, leaf = key.split(".")
    for parent in parents:
        section = values.get(parent)
        values[parent] = section = dict(section) if isinstance(section, dict) else {}
        values = section
    values[leaf] = value


def _describe(error: ValidationError, given: Mapping[str, str], profile_file: Path) -> str:
    lines = []
    for problem in error.errors():
        key = ".".join(str(part) for part in problem["loc"])
        source = f"{_variable_for(key)}={given[key]!r}" if key in given else f"{profile_file}: deployment.{key}"
        lines.append(f"{source}: {problem['msg']}")
    return "deployment settings are wrong:\n" + "\n".join(lines)


DEFAULT_HUB_ENDPOINT = "https://huggingface.co"


def hub_endpoints(environ: Mapping[str, str] | None = None) -> tuple[str, ...]:
    """The Hub URLs a Hub token may be sent to: huggingface.co, and `BMW_HUB_ENDPOINT` when set
    (a private Hub or a mirror the operator trusts). A run config cannot add one. Read when a
    token is about to be sent: the publish op holds no resource."""
    env = os.environ if environ is None else environ
    extra = env.get("BMW_HUB_ENDPOINT", "").strip().rstrip("/")
    return (DEFAULT_HUB_ENDPOINT, extra) if extra else (DEFAULT_HUB_ENDPOINT,)
