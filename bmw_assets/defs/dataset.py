"""`chatml_dataset` and the blocking checks that guard training from a bad dataset."""

import dagster as dg

from bmw_assets.dataset.build import load_split
from bmw_assets.dataset.loss_preview import training_preview
from bmw_assets.dataset.manifest import plot_token_histogram
from bmw_assets.dataset.settings import SPLITS, DatasetSettings
from bmw_assets.dataset.validation import (
    check_assistant_turns,
    check_max_length,
    check_no_leakage,
    check_schema,
)
from bmw_assets.defs.metadata import markdown_image, metadata_table
from bmw_assets.defs.resources import (
    FactsResource,
    ModelConfigsResource,
    StorageResource,
)
from bmw_assets.models.base_model import ensure_base_model
from bmw_assets.stages.dataset import articles_by_source, update_chatml_dataset

# The blocking checks that stand between a dataset and training, with what each one guarantees.
CHECKS = {
    "schema_valid": "Every row has the fields training reads (messages with role and content, text, style, "
    "article_id, chunk, tokens) with the right types.",
    "no_empty_assistant_turn": "Every conversation ends with a non-empty assistant turn: no row trains the model "
    "to answer with nothing.",
    "no_article_in_two_splits": "No article (nor any of its near duplicates) appears in two of train, validation "
    "and test, so held-out scores are not inflated by leakage.",
    "no_example_over_max_length": "No rendered row is longer than max_length tokens, so none is cut off in training.",
}


def dataset_settings(model_configs: ModelConfigsResource) -> tuple[DatasetSettings, str, dict[str, bool]]:
    """One dataset serves every variant: rows fit the shortest max_length any variant trains with.
    It holds every style the variants train on and always the plain `article` rows, which the
    evaluation reads as held-out text and the retrieval baseline as its corpus. Also each
    variant's training.assistant_only_loss, which decides the tokens that carry loss."""
    configs = list(model_configs.load_valid()[0].values())  # a bad variant fails its own partition only
    shortest = min(configs, key=lambda c: c.training.max_length)
    styles = sorted({s for c in configs for s in c.training.styles} | {"article"})
    loss = {c.variant: c.training.assistant_only_loss for c in configs}
    return DatasetSettings(styles=tuple(styles), max_length=shortest.training.max_length), shortest.model.name, loss


@dg.asset(
    group_name="dataset",
    kinds={"python", "json"},
    check_specs=[
        dg.AssetCheckSpec(name, asset="chatml_dataset", blocking=True, description=description)
        for name, description in CHECKS.items()
    ],
    description="The LLM-cleaned articles as Qwen3/ChatML conversations (`instruct`, `qa`, `article` styles) in "
    "train/validation/test JSONL, split by article with near duplicates kept together; long articles split "
    "at paragraph boundaries. Versioned by content hash; `test` is held out for evaluation only.",
)
def chatml_dataset(
    context: dg.AssetExecutionContext,
    llm_text: dict,
    storage: StorageResource,
    model_configs: ModelConfigsResource,
    facts: FactsResource,
):
    layout = storage.layout
    settings, model_name, assistant_only_loss = dataset_settings(model_configs)
    tokenizer_path = ensure_base_model(model_name, layout.cache_dir / "base_models")
    manifest = update_chatml_dataset(
        layout.catalog_path, layout.datasets_dir, tokenizer_path, settings, facts.facts(), context.log.info
    )
    splits = {split: load_split(manifest.split_path(split)) for split in SPLITS}
    every_row = [row for rows in splits.values() for row in rows]
    results = {
        "schema_valid": check_schema(every_row),
        "no_empty_assistant_turn": check_assistant_turns(every_row),
        "no_article_in_two_splits": check_no_leakage(splits),
        "no_example_over_max_length": check_max_length(every_row, settings.max_length),
    }
    histogram = plot_token_histogram(manifest, layout.reports_dir / "datasets" / f"{manifest.version[:16]}_tokens.png")
    yield dg.MaterializeResult(
        value={
            "version": manifest.version,
            "path": manifest.path,
            "max_length": settings.max_length,
            "system_prompt": settings.system_prompt,
        },  # fmt: skip
        # The content hash: models trained on an older one show as unsynced (stale) in the UI.
        data_version=dg.DataVersion(manifest.version),
        metadata={
            "version": manifest.version,
            "path": dg.MetadataValue.path(manifest.path),
            "rows_and_tokens": metadata_table(
                [
                    {
                        "split": s,
                        "articles": manifest.articles[s],
                        "rows": sum(manifest.rows[s].values()),
                        "tokens": sum(manifest.tokens[s].values()),
                    }
                    for s in SPLITS
                ]  # fmt: skip
            ),
            "rows_by_style": dg.MetadataValue.json(manifest.rows),
            "chunked_articles": manifest.chunked_articles,
            "articles_by_source": dg.MetadataValue.json(articles_by_source(layout.catalog_path, manifest.version)),
            "duplicate_groups": len(manifest.duplicate_groups),
            "max_length": settings.max_length,
            "token_histogram": markdown_image(histogram, "token lengths per split"),
            # One row per style as training sees it: what carries loss, what is only read.
            "training_view": dg.MetadataValue.md(
                training_preview(tokenizer_path, splits["train"], settings.styles, assistant_only_loss)
            ),
        },
    )
    for name, (passed, details) in results.items():
        yield dg.AssetCheckResult(check_name=name, passed=passed, metadata={"details": dg.MetadataValue.json(details)})
