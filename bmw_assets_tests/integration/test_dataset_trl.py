"""The built train split loads straight into TRL and trains one step on the real base model.

SmolLM2's chat template has no `{% generation %}` markers and TRL cannot patch it,
so `assistant_only_loss` is refused; the test uses TRL's completion-only loss on
the conversational prompt-completion view of the rows (`to_prompt_completion`).
"""

from __future__ import annotations

import math
import os
from datetime import UTC, datetime, timedelta

import pytest

from bmw_assets.dataset import (
    DatasetArticle,
    DatasetSettings,
    build_dataset,
    to_prompt_completion,
)

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def articles() -> list[DatasetArticle]:
    start = datetime(2025, 3, 1, tzinfo=UTC)
    bodies = [
        "Munich. The BMW Group opens a battery assembly plant in Irlbach-Straßkirchen.\n\n"
        "Production of high-voltage batteries for the Neue Klasse starts in 2026.",
        "Munich. The new BMW iX3 reaches a range of up to 805 kilometres.\n\n"
        "Its charging power of up to 400 kW adds 372 kilometres in ten minutes.",
        "Munich. The BMW Group delivered 2.45 million vehicles in 2024.\n\n"
        "Electrified models made up a quarter of all deliveries.",
        "Munich. MINI presents the new MINI Cooper SE.\n\nIt is built in Oxford from 2026.",
    ]
    return [
        DatasetArticle(f"T{n:07d}EN", f"Release {n}", start + timedelta(days=n), body) for n, body in enumerate(bodies)
    ]


@pytest.mark.slow
def test_train_split_trains_one_step_with_trl(base_model_dir, tmp_path):
    import torch
    from datasets import load_dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTConfig, SFTTrainer
    from trl.chat_template_utils import has_generation_markers

    torch.set_num_threads(1)
    tokenizer = AutoTokenizer.from_pretrained(base_model_dir)
    assert not has_generation_markers(tokenizer.chat_template), "SmolLM2 gained markers: use assistant_only_loss"
    settings = DatasetSettings(
        max_length=128, styles=("instruct", "qa"), train_fraction=1.0, validation_fraction=0.0, test_fraction=0.0
    )
    manifest = build_dataset(articles(), tokenizer, settings, tmp_path / "datasets")

    train = load_dataset("json", data_files=str(manifest.split_path("train")), split="train")
    assert len(train) == sum(manifest.rows["train"].values()) == 8
    assert set(train.column_names) == {"messages", "text", "style", "article_id", "chunk", "tokens"}
    pairs = train.map(to_prompt_completion, remove_columns=train.column_names)

    model = AutoModelForCausalLM.from_pretrained(base_model_dir, dtype=torch.float32)
    config = SFTConfig(
        output_dir=str(tmp_path / "run"),
        max_steps=1,
        max_length=128,
        per_device_train_batch_size=2,
        completion_only_loss=True,
        report_to="none",
        use_cpu=True,
        save_strategy="no",
        logging_steps=1,
        dataloader_num_workers=0,
        disable_tqdm=True,
    )
    trainer = SFTTrainer(model=model, args=config, train_dataset=pairs, processing_class=tokenizer)

    # The loss covers exactly the assistant's answer and its end-of-turn token, never the prompt.
    example = trainer.train_dataset[0]
    token_labels = zip(example["input_ids"], example["labels"], strict=True)
    trained = tokenizer.decode([t for t, label in token_labels if label != -100])
    assert trained == pairs[0]["completion"][0]["content"] + "<|im_end|>\n"
    result = trainer.train()
    assert result.global_step == 1
    assert math.isfinite(result.training_loss) and 0 < result.training_loss < 20
