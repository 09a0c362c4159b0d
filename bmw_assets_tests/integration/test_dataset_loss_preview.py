"""The dataset preview marks exactly the tokens TRL's SFTTrainer trains on, in each of the three
loss modes, with the real SmolLM2 tokenizer (and, for the assistant mask, the same tokenizer with
a ChatML template that has `{% generation %}` markers, as Qwen3's patched template has)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bmw_assets.dataset import DatasetArticle, DatasetSettings, build_dataset
from bmw_assets.dataset.build import load_split
from bmw_assets.dataset.loss_preview import marked_text, preview_rows, training_preview
from bmw_assets.training.data import LossMode, choose_loss_mode, loss_mask, to_trainer_rows

pytestmark = pytest.mark.slow

MARKED_CHATML = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' }}"
    "{% if message['role'] == 'assistant' %}{% generation %}{{ message['content'] + '<|im_end|>' }}{% endgeneration %}"
    "{{ '\\n' }}{% else %}{{ message['content'] + '<|im_end|>\\n' }}{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)


@pytest.fixture(scope="module")
def rows(base_model_dir, tmp_path_factory):
    from transformers import AutoTokenizer

    start = datetime(2025, 3, 1, tzinfo=UTC)
    bodies = ["Munich. The new BMW iX3 reaches a range of up to 805 kilometres.\n\nIt charges at up to 400 kW.",
              "Munich. MINI presents the new MINI Cooper SE.\n\nIt is built in Oxford from 2026."]  # fmt: skip
    articles = [DatasetArticle(f"T{n:07d}EN", f"Release {n}", start + timedelta(days=n), body, [("Where is it built?", "Oxford")])
                for n, body in enumerate(bodies)]  # fmt: skip
    settings = DatasetSettings(max_length=128, styles=("instruct", "qa"), train_fraction=1.0,
                               validation_fraction=0.0, test_fraction=0.0)  # fmt: skip
    tokenizer = AutoTokenizer.from_pretrained(base_model_dir)
    manifest = build_dataset(articles, tokenizer, settings, tmp_path_factory.mktemp("datasets"))
    return load_split(manifest.split_path("train"))


def _trl_labels(model, tokenizer, rows, mode, tmp_path):
    """input_ids and labels of SFTTrainer's own prepared train dataset for `mode`."""
    from datasets import Dataset
    from trl import SFTConfig, SFTTrainer

    config = SFTConfig(output_dir=str(tmp_path), max_length=1024, report_to="none", use_cpu=True,
                       assistant_only_loss=mode is LossMode.ASSISTANT_MASK,
                       completion_only_loss=True if mode is LossMode.COMPLETION_ONLY else None)  # fmt: skip
    trainer = SFTTrainer(model=model, args=config, processing_class=tokenizer,
                         train_dataset=Dataset.from_list(to_trainer_rows(rows, mode)))  # fmt: skip
    return [(example["input_ids"], example["labels"]) for example in trainer.train_dataset]


@pytest.mark.parametrize("mode", list(LossMode))
def test_loss_mask_is_what_sft_trainer_trains_on(mode, rows, base_model_dir, tmp_path):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.set_num_threads(1)
    tokenizer = AutoTokenizer.from_pretrained(base_model_dir)
    if mode is LossMode.ASSISTANT_MASK:
        tokenizer.chat_template = MARKED_CHATML
    assert choose_loss_mode(tokenizer, mode is not LossMode.FULL_SEQUENCE) is mode
    model = AutoModelForCausalLM.from_pretrained(base_model_dir, dtype=torch.float32)
    expected = _trl_labels(model, tokenizer, rows, mode, tmp_path)
    for row, (input_ids, labels) in zip(rows, expected, strict=True):
        token_ids, carries_loss = loss_mask(tokenizer, row, mode)
        assert token_ids == list(input_ids)
        assert carries_loss == [label != -100 for label in labels]
    if mode is not LossMode.FULL_SEQUENCE:  # the prompt is read, not trained on
        assert not all(carries_loss) and any(carries_loss)


def test_the_preview_marks_the_answer_of_each_style(rows, base_model_dir):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(base_model_dir)
    qa = preview_rows(rows, ["instruct", "qa", "article"])["qa"]
    token_ids, carries_loss = loss_mask(tokenizer, qa, LossMode.COMPLETION_ONLY)
    text = marked_text(tokenizer, token_ids, carries_loss)
    answer = qa["messages"][-1]["content"]
    assert text.endswith(f"<|im_start|>assistant\n«{answer}<|im_end|>\n»")
    assert text.count("«") == 1 and "<|im_start|>user\n" in text.split("«")[0]

    markdown = training_preview(str(base_model_dir), rows, ["instruct", "qa", "article"],
                                {"original": True, "original_lora": True, "pruned": False})  # fmt: skip
    completion, full = markdown.split("Loss rule ")[1:]
    assert completion.startswith("`completion_only` (original, original_lora)")
    assert full.startswith("`full_sequence` (pruned)")
    assert completion.count("```text") == 2 and "**article**" not in completion  # the dataset has no article rows
    assert f"«{answer}<|im_end|>\n»" in completion
    assert "\n«<|im_start|>system" in full  # everything carries loss
