"""Named jobs for the steps a user (and `make demo`) runs, so the Runs page reads as the pipeline does."""

import dagster as dg

# Everything training needs: the press releases down to the dataset, and the base model.
DATA_ASSETS = ["article_index", "raw_pdfs", "regex_text", "llm_text", "chatml_dataset", "base_model"]

ingest_and_prepare = dg.define_asset_job(
    "ingest_and_prepare",
    selection=DATA_ASSETS,
    description="Fetch the press releases and their PDFs, extract and clean the text, build the ChatML dataset "
    "(with its blocking checks) and make the base model ready.",
)
evaluate_base_model = dg.define_asset_job(
    "evaluate_base_model",
    selection=["base_model_report", "rag_baseline"],
    description="Measure the base model on the current dataset, alone and with retrieved passages (the retrieval "
    "baseline): the references every variant is judged against.",
)
compare_and_document = dg.define_asset_job(
    "compare_and_document",
    selection=["variant_comparison", "dataset_card"],
    description="Compare every evaluated variant with the base model and write the dataset card.",
)
# The jobs of one variant (a partition), built with the variants; `make demo` runs them by name.
TRAIN_VARIANT = "train_variant"
EVALUATE_VARIANT = "evaluate_variant"
WRITE_MODEL_CARD = "write_model_card"


def pipeline_jobs(variants: dg.PartitionsDefinition) -> list:
    """Every named job; those of one variant take a partition of `variants`."""
    train_variant = dg.define_asset_job(
        TRAIN_VARIANT,
        selection=["trained_model"],
        partitions_def=variants,
        description="Fine-tune one variant (a partition) out of process; in the `gpu` pool.",
    )
    evaluate_variant = dg.define_asset_job(
        EVALUATE_VARIANT,
        selection=["eval_report"],
        partitions_def=variants,
        description="Evaluate one trained variant against the base model, with its verdict checks.",
    )
    write_model_card = dg.define_asset_job(
        WRITE_MODEL_CARD,
        selection=["model_card"],
        partitions_def=variants,
        description="Write one variant's model card from its training manifest and evaluation.",
    )
    return [ingest_and_prepare, evaluate_base_model, train_variant, evaluate_variant, compare_and_document,
            write_model_card]  # fmt: skip
