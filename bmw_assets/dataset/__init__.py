"""Clean articles -> versioned ChatML training dataset (instruct, qa and article styles).

Entry points: `build_dataset`, `load_split`, `load_manifest`, `plot_token_histogram`
and the validators in `validation` for the asset checks.
"""

from bmw_assets.dataset.article import DatasetArticle
from bmw_assets.dataset.build import build_dataset, dataset_version, load_split
from bmw_assets.dataset.manifest import (
    DatasetManifest,
    load_manifest,
    plot_token_histogram,
)
from bmw_assets.dataset.settings import SPLITS, STYLES, DatasetSettings
from bmw_assets.dataset.trl_format import to_prompt_completion
from bmw_assets.dataset.validation import (
    check_assistant_turns,
    check_max_length,
    check_no_leakage,
    check_schema,
)

__all__ = [
    "SPLITS",
    "STYLES",
    "DatasetArticle",
    "DatasetManifest",
    "DatasetSettings",
    "build_dataset",
    "check_assistant_turns",
    "check_max_length",
    "check_no_leakage",
    "check_schema",
    "dataset_version",
    "load_manifest",
    "load_split",
    "plot_token_histogram",
    "to_prompt_completion",
]
