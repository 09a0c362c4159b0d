"""The code location: assets, checks, sensors and resources for one deployment's settings.

`build_definitions(settings)` builds it for any settings (tests build several in one process);
`defs` is the one Dagster loads, for the settings of this process's environment. The settings
swap resources (replica vs real site, local vs remote endpoint, CPU vs GPUs) and the variant
partitions; the code paths are the same.
"""

from __future__ import annotations

import dagster as dg

from bmw_assets.defs import dataset, evaluation, ingestion, jobs, run_recovery, sensors, sharing, text, training
from bmw_assets.defs.failure_checks import FailurePolicyResource
from bmw_assets.defs.io_manager import ManifestIOManager
from bmw_assets.defs.kubernetes import pod_settings
from bmw_assets.defs.resources import (
    ComputeResource,
    FactsResource,
    LivePressClubResource,
    LLMEndpointResource,
    LocalLLMEndpointResource,
    ModelConfigsResource,
    NoFactsResource,
    PressClubResource,
    RemoteLLMEndpointResource,
    ReplicaFactsResource,
    ReplicaPressClubResource,
    RetrainPolicyResource,
    StorageResource,
)
from bmw_assets.models.config import list_variants
from bmw_assets.settings import Settings, load_settings


def press_room(settings: Settings) -> tuple[PressClubResource, FactsResource]:
    """The press room and the facts known about its articles: the replica's ground truth, or none."""
    site = settings.pressclub
    if site.site == "live":
        return LivePressClubResource(default_target=site.default_target), NoFactsResource()
    replica = ReplicaPressClubResource(base_url=site.url, default_target=site.default_target,
                                       replica_state_dir=str(settings.storage.root / "replica"),
                                       replica_size=site.replica_size)  # fmt: skip
    return replica, ReplicaFactsResource(replica_size=site.replica_size)


def paragraph_filter(settings: Settings) -> LLMEndpointResource:
    chosen = settings.paragraph_filter
    shared = {"method": chosen.method, "concurrency": chosen.concurrency, "max_judged_chars": chosen.max_judged_chars,
              "keep_threshold": chosen.keep_threshold}  # fmt: skip
    if chosen.endpoint == "remote":
        remote = {"model": chosen.model} if chosen.model else {}
        return RemoteLLMEndpointResource(base_url=chosen.base_url, api_key_env=chosen.api_key_env, **remote, **shared)
    return LocalLLMEndpointResource(base_url=chosen.base_url, model=chosen.model, **shared)


def build_resources(settings: Settings) -> dict[str, object]:
    layout = settings.storage
    compute = settings.compute
    pressclub, facts = press_room(settings)
    kubernetes = pod_settings(compute.kubernetes, str(layout.root)) if compute.launcher == "kubernetes" else None
    return {
        "storage": StorageResource(root=str(layout.root)),
        "pressclub": pressclub,
        "llm": paragraph_filter(settings),
        "model_configs": ModelConfigsResource(profile=settings.profile, configs_dir=str(settings.configs_dir)),
        "facts": facts,
        "compute": ComputeResource(
            num_gpus=compute.num_gpus, hub_offline=compute.hub_offline, launcher=compute.launcher, kubernetes=kubernetes
        ),  # fmt: skip
        "failure_policy": FailurePolicyResource(
            max_failure_rate=settings.failure_policy.max_failure_rate, severity=settings.failure_policy.severity
        ),  # fmt: skip
        "retrain_policy": RetrainPolicyResource(min_new_articles=settings.retrain_min_new_articles),
        "io_manager": ManifestIOManager(root=str(layout.manifests_dir)),
    }


def build_definitions(settings: Settings) -> dg.Definitions:
    # The partitions follow the variants in the settings' configs folder, as ModelConfigsResource does.
    variants = dg.StaticPartitionsDefinition(list_variants(settings.configs_dir))
    return dg.Definitions(
        assets=[
            *dg.load_assets_from_modules([ingestion, text, dataset]),
            *training.training_assets(variants),
            *evaluation.evaluation_assets(variants, settings.evaluation_pool),
            *sharing.sharing_assets(variants),
        ],
        jobs=[*jobs.pipeline_jobs(variants), sharing.publish_to_hub],
        sensors=[
            sensors.new_press_releases,
            sensors.retrain_on_new_articles,
            sensors.automation,
            run_recovery.recover_dead_runs_sensor(run_recovery.location_pools(settings)),
        ],
        resources=build_resources(settings),
    )


defs = build_definitions(load_settings())
