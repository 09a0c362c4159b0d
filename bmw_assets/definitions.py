"""The code location: assets, checks, sensors and resources for the active profile.

`BMW_PROFILE` swaps resources (replica vs real site, packaged vs Hub model,
local vs remote endpoint); the asset graph and code paths are the same.
"""

from __future__ import annotations

import os

import dagster as dg

from bmw_assets.defs import dataset, evaluation, ingestion, jobs, sensors, sharing, text, training
from bmw_assets.defs.failure_checks import FailurePolicyResource
from bmw_assets.defs.io_manager import ManifestIOManager
from bmw_assets.defs.kubernetes import pod_settings_from_env
from bmw_assets.defs.resources import (
    ComputeResource,
    FactsResource,
    LLMEndpointResource,
    ModelConfigsResource,
    PressClubResource,
    RetrainPolicyResource,
    StorageResource,
)
from bmw_assets.settings import Settings, load_settings


def build_resources(settings: Settings) -> dict[str, object]:
    layout = settings.storage
    profile = settings.profile
    launcher = os.environ.get("BMW_LAUNCHER", "subprocess")
    return {
        "storage": StorageResource(root=str(layout.root)),
        "pressclub": PressClubResource(
            profile=profile,
            # Points the local profile at an already running replica (tests, a shared replica).
            base_url=os.environ.get("BMW_PRESSCLUB_URL") or None,
            default_target=60 if profile == "local" else 500,
            replica_state_dir=str(layout.root / "replica"),
        ),
        "llm": LLMEndpointResource(
            profile=profile,
            # Production: the vLLM/OpenAI endpoint. Local: an already running endpoint, else one is started.
            base_url=os.environ.get("BMW_LLM_BASE_URL") or None,
            model=os.environ.get("BMW_LLM_MODEL") or None,
            # The packaged 135M model on CPU is slow: it judges the short paragraphs, where furniture hides.
            max_judged_chars=300 if profile == "local" else None,
        ),
        "model_configs": ModelConfigsResource(profile=profile, configs_dir=os.environ.get("BMW_CONFIGS_DIR") or None),
        "facts": FactsResource(profile=profile),
        "compute": ComputeResource(
            num_gpus=0 if profile == "local" else int(os.environ.get("BMW_NUM_GPUS", "1")),
            hub_offline=profile == "local",
            # "kubernetes": training and evaluation in GPU pods (docs/deploy.md); the BMW_K8S_* variables say how.
            launcher=launcher,
            kubernetes=pod_settings_from_env(os.environ, str(layout.root)) if launcher == "kubernetes" else None,
        ),
        # Failed items (articles, PDFs, texts) above this share fail the data assets' checks: as a
        # warning by default, as an error (stopping downstream assets) with BMW_FAILURE_SEVERITY=ERROR.
        "failure_policy": FailurePolicyResource(
            max_failure_rate=float(os.environ.get("BMW_MAX_FAILURE_RATE", "0.1")),
            severity=os.environ.get("BMW_FAILURE_SEVERITY", "WARN"),
        ),
        "retrain_policy": RetrainPolicyResource(min_new_articles=int(os.environ.get("BMW_RETRAIN_MIN_NEW_ARTICLES", "0"))),
        "io_manager": ManifestIOManager(root=str(layout.manifests_dir)),
    }


def build_definitions(settings: Settings) -> dg.Definitions:
    return dg.Definitions(
        assets=dg.load_assets_from_modules([ingestion, text, dataset, training, evaluation, sharing]),
        jobs=[*jobs.PIPELINE_JOBS, sharing.publish_to_hub],
        sensors=[sensors.new_press_releases, sensors.retrain_on_new_articles, sensors.automation],
        resources=build_resources(settings),
    )


defs = build_definitions(load_settings())
