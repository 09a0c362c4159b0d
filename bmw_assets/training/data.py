"""Training rows from the dataset JSONL files (the row shape `bmw_assets.dataset.build` writes and
`bmw_assets.dataset.validation` checks: messages, text, style, article_id, chunk, tokens).

Loss masking: SFTTrainer's `assistant_only_loss` needs a chat template with
`{% generation %}` markers. TRL patches known templates; SmolLM2's ChatML template is
not one of them. For such templates the rows become TRL's conversational
prompt/completion format (prompt = every message before the last assistant turn,
completion = that turn) and `completion_only_loss` masks the prompt, which is the
same loss for our single-answer rows.
"""

from __future__ import annotations

import enum
import json
import re
from pathlib import Path
from typing import Any


class LossMode(enum.Enum):
    FULL_SEQUENCE = "full_sequence"  # loss on every token
    ASSISTANT_MASK = "assistant_mask"  # messages + assistant_only_loss (template has generation markers)
    COMPLETION_ONLY = "completion_only"  # prompt/completion rows + completion_only_loss


def read_jsonl(path: Path, styles: list[str] | None = None) -> list[dict[str, Any]]:
    """Rows of a dataset split, keeping only `styles` when given (None keeps all)."""
    rows = []
    with Path(path).open(encoding="utf-8") as handle:
        for line_number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            row = json.loads(line)
            if not isinstance(row.get("messages"), list) or not row["messages"]:
                raise ValueError(f"{path}:{line_number} has no 'messages' list; each row needs one")
            if styles is None or row.get("style") in styles:
                rows.append(row)
    if not rows:
        raise ValueError(f"{path} has no rows with style in {styles}")
    return rows


def choose_loss_mode(tokenizer: Any, assistant_only_loss: bool) -> LossMode:
    """How to restrict the loss to assistant tokens for this tokenizer's chat template."""
    if not assistant_only_loss:
        return LossMode.FULL_SEQUENCE
    if tokenizer.chat_template and re.search(r"\{%-?\s*generation\s*-?%\}", tokenizer.chat_template):
        return LossMode.ASSISTANT_MASK
    try:  # TRL >= 1.16 patches known templates with generation markers
        from trl.chat_template_utils import get_training_chat_template
    except ImportError:
        return LossMode.COMPLETION_ONLY
    try:
        get_training_chat_template(tokenizer)
    except ValueError:  # TRL cannot patch this template
        return LossMode.COMPLETION_ONLY
    return LossMode.ASSISTANT_MASK


def to_trainer_rows(rows: list[dict[str, Any]], mode: LossMode) -> list[dict[str, Any]]:
    """Rows in the conversational shape SFTTrainer expects for `mode`."""
    if mode is not LossMode.COMPLETION_ONLY:
        return [{"messages": row["messages"]} for row in rows]
    converted = []
    for index, row in enumerate(rows):
        messages = row["messages"]
        if messages[-1].get("role") != "assistant" or len(messages) < 2:
            raise ValueError(
                f"row {index} (article {row.get('article_id')}) must end with an assistant message after "
                f"at least one other message for completion-only loss; roles are {[m.get('role') for m in messages]}"
            )
        converted.append({"prompt": messages[:-1], "completion": messages[-1:]})
    return converted


def loss_mask(tokenizer: Any, row: dict[str, Any], mode: LossMode) -> tuple[list[int], list[bool]]:
    """The token ids of one dataset row as TRL's SFTTrainer tokenizes it in `mode`, and for each
    whether it carries loss, by TRL's own rule: every token (FULL_SEQUENCE); the chat template's
    assistant mask, with TRL's training template where the tokenizer's has no generation markers
    (ASSISTANT_MASK); the tokens after the longest common prefix of the prompt rendered with its
    generation prompt and the whole conversation (COMPLETION_ONLY). Raises ValueError for a row
    `mode` cannot train on (see to_trainer_rows)."""
    (trainer_row,) = to_trainer_rows([row], mode)

    def ids(messages: list[dict[str, str]], **kwargs: Any) -> dict[str, list]:
        return tokenizer.apply_chat_template(messages, tokenize=True, return_dict=True, **kwargs)

    if mode is LossMode.COMPLETION_ONLY:
        prompt = ids(trainer_row["prompt"], add_generation_prompt=True)["input_ids"]
        whole = ids(trainer_row["prompt"] + trainer_row["completion"])["input_ids"]
        pairs = enumerate(zip(prompt, whole, strict=False))  # the prompt is usually the shorter
        shared = next((i for i, (a, b) in pairs if a != b), min(len(prompt), len(whole)))
        return whole, [i >= shared for i in range(len(whole))]
    if mode is LossMode.ASSISTANT_MASK:
        from trl.chat_template_utils import get_training_chat_template, has_generation_markers

        template = None if has_generation_markers(tokenizer.chat_template) else get_training_chat_template(tokenizer)
        tokens = ids(trainer_row["messages"], chat_template=template, return_assistant_tokens_mask=True)
        return tokens["input_ids"], [bool(bit) for bit in tokens["assistant_masks"]]
    whole = ids(trainer_row["messages"])["input_ids"]
    return whole, [True] * len(whole)
