"""Sharing: dataset and model cards rendered in the UI (and written as README.md beside the data and
the checkpoint), each variant's servable export, and the `publish_to_hub` job (run by hand only)."""

from pathlib import Path
from typing import Literal

import dagster as dg
from pydantic import Field

from bmw_assets.atomic import write_text_atomic
from bmw_assets.dataset.manifest import load_manifest
from bmw_assets.defs.resources import ModelConfigsResource, StorageResource
from bmw_assets.evaluation.report import EvalReport
from bmw_assets.run_folders import TrainingRunFolder
from bmw_assets.sharing import cards
from bmw_assets.sharing.export import CHECK_PROMPTS, export_variant
from bmw_assets.sharing.gguf_export import GGUF_BY_PROFILE, write_verified_gguf
from bmw_assets.sharing.hub import TOKEN_ENV, HubRepo, check_hub, read_token, upload_folder


def _card_metadata(card) -> dict:
    # The UI renders the Markdown body; the YAML front matter would show as text, so it goes as JSON.
    return {"card": dg.MetadataValue.md(card.text), "front_matter": dg.MetadataValue.json(card.data.to_dict())}


@dg.asset(
    group_name="sharing",
    kinds={"huggingface", "markdown"},
    pool="duckdb",
    automation_condition=dg.AutomationCondition.eager(),
    description="The dataset card of the current `chatml_dataset` version in the Hugging Face format: sources "
    "and date range, article counts, cleaning F1 per stage, splits with rows and tokens, limitations. "
    "Written as README.md into the dataset folder, which `publish_to_hub` uploads.",
)
def dataset_card(chatml_dataset: dict, storage: StorageResource) -> dg.MaterializeResult:
    manifest = load_manifest(Path(chatml_dataset["path"]))
    corpus = cards.corpus_stats(storage.layout.catalog_path, manifest.version)
    card = cards.dataset_card(manifest, corpus)
    readme = cards.write_card(card, Path(manifest.path))
    return dg.MaterializeResult(
        value={"version": manifest.version, "dataset_dir": manifest.path, "readme": str(readme)},
        metadata={
            **_card_metadata(card),
            "articles": corpus.articles,
            "published": f"{corpus.first_published} to {corpus.last_published}",
            "dataset_dir": dg.MetadataValue.path(manifest.path),
            "readme": dg.MetadataValue.path(str(readme)),
        },
    )


def sharing_assets(variants: dg.PartitionsDefinition) -> list[dg.AssetsDefinition]:
    """`dataset_card`, and `exported_model` and `model_card` with one partition per variant in `variants`."""
    return [
        dataset_card,
        dg.asset(
            partitions_def=variants,
            group_name="sharing",
            kinds={"transformers", "safetensors", "gguf"},
            description="The variant as one servable model folder: LoRA adapters merged into the base model (with the "
            "run's layers removed) as safetensors + tokenizer in <run>/merged/, accepted only if merged and unmerged "
            "logits agree; a full fine-tune's checkpoint as it is. `python -m bmw_assets.serve <variant>` serves it. "
            "With a GGUF dtype (run config `gguf`; f16 by default on the local profile) the folder also gets "
            "`<variant>-<dtype>.gguf` for llama.cpp, kept only if transformers loads it back with the same logits "
            "and tokens.",
        )(exported_model),
        dg.asset(
            partitions_def=variants,
            group_name="sharing",
            kinds={"huggingface", "markdown"},
            automation_condition=dg.AutomationCondition.eager(),
            description="The variant's model card in the Hugging Face format: base model, which layers the surgery "
            "removed and why, hyper-parameters, training cost, the evaluation next to the base model (from "
            "variant_comparison's files when written), limitations. Written as README.md beside the checkpoint and "
            "its export.",
        )(model_card),
    ]


class ExportConfig(dg.Config):
    gguf: Literal["profile", "none", "f32", "f16", "bf16"] = Field(
        default="profile",
        description="Also write the model as one GGUF file (llama.cpp) in this dtype, verified against the "
        "safetensors logits; 'profile': f16 on the local profile, none elsewhere (an 8B model's f16 file is 16 GB)",
    )


def _gguf_metadata(record: dict) -> dict:
    export, check = record["export"], record["check"]
    return {
        "gguf_file": dg.MetadataValue.path(export["path"]),
        "gguf_size_bytes": export["size_bytes"],
        "gguf_sha256": export["sha256"],
        "gguf_dtype": export["dtype"],
        "gguf_max_abs_logit_diff": check["max_abs_logit_diff"],
        "gguf_logit_tolerance": record["tolerance"],
        "gguf_write_seconds": export["seconds"],
    }


def exported_model(
    context: dg.AssetExecutionContext, config: ExportConfig, trained_model: dict, model_configs: ModelConfigsResource
) -> dg.MaterializeResult:
    result = export_variant(trained_model, progress=context.log.info)
    card = Path(trained_model["output_dir"]) / cards.CARD_NAME
    if result.merged and card.is_file():  # the model card, when it was written before this export
        write_text_atomic(Path(result.model_dir) / cards.CARD_NAME, card.read_text(encoding="utf-8"))
    metadata = {
        "model_dir": dg.MetadataValue.path(result.model_dir),
        "merged": result.merged,
        "files": dg.MetadataValue.json(result.files),
        "serve": dg.MetadataValue.md(f"`python -m bmw_assets.serve {context.partition_key}`"),
    }
    if result.max_abs_logit_diff is not None:
        metadata |= {"max_abs_logit_diff": result.max_abs_logit_diff, "logit_tolerance": result.tolerance,
                     "checked_prompt_tokens": result.prompt_tokens}  # fmt: skip
    dtype = GGUF_BY_PROFILE.get(model_configs.profile, "none") if config.gguf == "profile" else config.gguf
    gguf = None
    if dtype != "none":
        name = f"{context.partition_key}-{dtype}.gguf"
        gguf = write_verified_gguf(result.model_dir, name, dtype, CHECK_PROMPTS, progress=context.log.info)
        metadata |= _gguf_metadata(gguf)
    return dg.MaterializeResult(value={**result.to_dict(), "gguf": gguf}, metadata=metadata)


class ModelCardConfig(dg.Config):
    dataset_repo_id: str | None = Field(
        default=None, description="Hub dataset the card links to (the repo publish_to_hub uploads the dataset to)"
    )


def model_card(
    context: dg.AssetExecutionContext,
    config: ModelCardConfig,
    trained_model: dict,
    eval_report: dict,
    storage: StorageResource,
) -> dg.MaterializeResult:
    run = TrainingRunFolder(Path(trained_model["output_dir"]))
    comparison = cards.read_comparison(storage.layout.reports_dir / "comparison" / "comparison.csv")
    card = cards.model_card(
        trained_model, cards.read_run_files(run), EvalReport.from_dict(eval_report), comparison,
        config.dataset_repo_id,
    )  # fmt: skip
    folders = [run.path] + ([run.merged] if (run.merged / "config.json").is_file() else [])
    readmes = [str(cards.write_card(card, folder)) for folder in folders]
    return dg.MaterializeResult(
        value={"variant": context.partition_key, "run_id": trained_model["run_id"], "readmes": readmes},
        metadata={
            **_card_metadata(card),
            "readmes": dg.MetadataValue.json(readmes),
            "compared_with_base": comparison is not None,
        },  # fmt: skip
    )


class PublishConfig(dg.Config):
    dataset_repo_id: str | None = Field(default=None, description="e.g. my-org/bmw-pressclub-chatml; None: no dataset")
    model_repo_ids: dict[str, str] = Field(default_factory=dict, description="variant -> model repo id, e.g. "
                                           "{original_lora: my-org/bmw-smollm2-original-lora}")  # fmt: skip
    private: bool = Field(default=True, description="create new repos as private")
    token_env: str = Field(
        default=TOKEN_ENV,
        description="environment variable holding a Hub write token: "
        "HF_TOKEN or HUGGING_FACE_HUB_TOKEN (no other variable is read)",
    )
    endpoint: str | None = Field(
        default=None,
        description="Hub URL; None: $HF_ENDPOINT or https://huggingface.co. "
        "Only https://huggingface.co and $BMW_HUB_ENDPOINT are accepted",
    )


def _materialized_folder(context: dg.OpExecutionContext, asset: str, partition: str | None, key: str) -> Path:
    """The folder recorded under metadata `key` by the latest materialization of `asset` (partition)."""
    records = context.instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey(asset), asset_partitions=[partition] if partition else None),
        limit=1,
    ).records
    if not records:
        raise dg.Failure(f"{asset}{f'[{partition}]' if partition else ''} was never materialized: materialize it first")
    return Path(records[0].asset_materialization.metadata[key].value)


@dg.op(description="Upload the dataset folder (with its card) and each named variant's export to the Hub.")
def upload_to_hub(context: dg.OpExecutionContext, config: PublishConfig) -> dg.Output:
    if not config.dataset_repo_id and not config.model_repo_ids:
        raise dg.Failure("nothing to publish: set dataset_repo_id and/or model_repo_ids in the run config")
    first = config.dataset_repo_id or next(iter(config.model_repo_ids.values()))
    check_hub(HubRepo(first, endpoint=config.endpoint, token_env=config.token_env), read_token(config.token_env))
    targets = []
    if config.dataset_repo_id:
        folder = _materialized_folder(context, "dataset_card", None, "dataset_dir")
        targets.append((folder, HubRepo(config.dataset_repo_id, "dataset", config.endpoint, config.token_env)))
    for variant, repo_id in config.model_repo_ids.items():
        folder = _materialized_folder(context, "exported_model", variant, "model_dir")
        if not (folder / cards.CARD_NAME).is_file():
            raise dg.Failure(f"{folder} has no {cards.CARD_NAME}: materialize model_card[{variant}] first")
        targets.append((folder, HubRepo(repo_id, "model", config.endpoint, config.token_env)))
    published = {}
    for folder, repo in targets:
        transfer = upload_folder(folder, repo, private=config.private, progress=context.log.info)
        published[repo.repo_id] = {"url": transfer.url, "commit": transfer.commit, "files": transfer.files}
    # Nothing for the IO manager to keep: what was published is the output's metadata.
    return dg.Output(None, metadata={"published": dg.MetadataValue.json(published)})


@dg.job(
    description="Publish the dataset and chosen variants to the Hugging Face Hub. Never scheduled: launch it with "
    "run config naming the repos; it needs a write token in HF_TOKEN (or token_env) and fails at once without one "
    "or offline."
)
def publish_to_hub():
    upload_to_hub()
