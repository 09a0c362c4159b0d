"""The code location: assets, checks, sensors and resources for the active profile.

`BMW_PROFILE` swaps resources (replica vs real site, packaged vs Hub model,
local vs remote endpoint); the asset graph and code paths are the same.
"""

from __future__ import annotations

import os

import dagster as dg

from bmw_assets.defs import dataset, evaluation, ingestion, jobs, run_recovery, sensors, sharing, text, training
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
from bmw_assets.replica.corpus import REPLICA_SIZE
from bmw_assets.settings import Settings, configs_dir, load_settings


def build_resources(settings: Settings) -> dict[str, object]:
    layout = settings.storage
    profile = settings.profile
    launcher = os.environ.get("BMW_LAUNCHER", "subprocess")
    # The local replica's corpus size (articles); the facts resource must know the same corpus.
    replica_size = int(os.environ.get("BMW_REPLICA_SIZE", str(REPLICA_SIZE)))
    return {
        "storage": StorageResource(root=str(layout.root)),
        "pressclub": PressClubResource(
            profile=profile,
            # Points the local profile at an already running replica (tests, a shared replica).
            base_url=os.environ.get("BMW_PRESSCLUB_URL") or None,
            default_target=40 if profile == "local" else 500,  # local: what the 15-minute demo can train on
            replica_state_dir=str(layout.root / "replica"),
            replica_size=replica_size,
        ),
        "llm": LLMEndpointResource(
            profile=profile,
            # Production: the vLLM/OpenAI endpoint. Local: an already running endpoint, else one is started.
            base_url=os.environ.get("BMW_LLM_BASE_URL") or None,
            model=os.environ.get("BMW_LLM_MODEL") or None,
            # Locally the MiniLM classifier judges the paragraphs up to 300 characters, where furniture hides (the
            # packaged 135M chat model cannot tell furniture from body: benchmarks/results/llm_filter.json);
            # BMW_FILTER_METHOD=llm asks it anyway. Production asks the LLM about every paragraph.
            method=os.environ.get("BMW_FILTER_METHOD") or ("classifier" if profile == "local" else "llm"),
            max_judged_chars=300 if profile == "local" else None,
            keep_threshold=0.1 if profile == "local" else 0.2,
        ),
        "model_configs": ModelConfigsResource(profile=profile, configs_dir=configs_dir()),
        "facts": FactsResource(profile=profile, replica_size=replica_size),
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
        sensors=[sensors.new_press_releases, sensors.retrain_on_new_articles, sensors.automation,
                 run_recovery.recover_dead_runs_sensor],
        resources=build_resources(settings),
    )


defs = build_definitions(load_settings())
