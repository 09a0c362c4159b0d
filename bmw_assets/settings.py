"""Process-wide settings read from the environment: the profile and the storage root.

`BMW_PROFILE` picks `local` (default, offline: replica, packaged model, CPU) or
`production` (the real PressClub, Hub models, GPUs). `BMW_STORAGE` (default
`./storage`) is the root of all runtime state. `BMW_EVALUATION_POOL` overrides the Dagster
pool the evaluation assets run in (see `evaluation_pool`). `BMW_HUB_ENDPOINT` allows one Hub
besides huggingface.co to receive a Hub token (see `hub_endpoints`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PROFILES = ("local", "production")


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


@dataclass(frozen=True)
class Settings:
    profile: str
    storage: StorageLayout


def load_settings(environ: dict[str, str] | None = None) -> Settings:
    """Read `BMW_PROFILE` and `BMW_STORAGE`; raise ValueError naming a bad profile."""
    env = os.environ if environ is None else environ
    profile = env.get("BMW_PROFILE", "local")
    if profile not in PROFILES:
        raise ValueError(f"BMW_PROFILE={profile!r} is not a profile; use one of {', '.join(PROFILES)}")
    root = Path(env.get("BMW_STORAGE", "storage")).expanduser().resolve()
    return Settings(profile=profile, storage=StorageLayout(root))


def evaluation_pool(environ: dict[str, str] | None = None) -> str:
    """The Dagster pool of the evaluation assets: `BMW_EVALUATION_POOL`, else `gpu` under the
    production profile on one box and `evaluation` otherwise.

    In the `gpu` pool an evaluation waits for the training in progress: on one GPU an 8B full
    fine-tuning and an 8B evaluation do not fit side by side (the peaks measured: docs/deploy.md,
    "A laptop", and benchmarks/results/train_throughput.json). On CPU, beside a LoRA
    run, or in pods with GPUs of their own (`BMW_LAUNCHER=kubernetes`) they do, and the
    `evaluation` pool evaluates one variant while the next one trains."""
    env = os.environ if environ is None else environ
    explicit = env.get("BMW_EVALUATION_POOL")
    if explicit:
        return explicit
    one_box = env.get("BMW_LAUNCHER", "subprocess") != "kubernetes"
    return "gpu" if env.get("BMW_PROFILE", "local") == "production" and one_box else "evaluation"


def configs_dir(environ: dict[str, str] | None = None) -> str | None:
    """`BMW_CONFIGS_DIR`: the folder holding base.yaml, variants/ and profiles/; None: the
    repository's configs/. It sets both the variant partitions and the configs they load."""
    env = os.environ if environ is None else environ
    return env.get("BMW_CONFIGS_DIR") or None


DEFAULT_HUB_ENDPOINT = "https://huggingface.co"


def hub_endpoints(environ: dict[str, str] | None = None) -> tuple[str, ...]:
    """The Hub URLs a Hub token may be sent to: huggingface.co, and `BMW_HUB_ENDPOINT` when set
    (a private Hub or a mirror the operator trusts). A run config cannot add one."""
    env = os.environ if environ is None else environ
    extra = env.get("BMW_HUB_ENDPOINT", "").strip().rstrip("/")
    return (DEFAULT_HUB_ENDPOINT, extra) if extra else (DEFAULT_HUB_ENDPOINT,)
