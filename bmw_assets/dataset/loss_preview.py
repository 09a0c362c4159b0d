"""What the model is trained on: a dataset row rendered as training tokenizes it, with the text
that carries loss between « and » (see training.data.loss_mask for the rule)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from itertools import groupby
from typing import Any

from bmw_assets.training.data import LossMode, choose_loss_mode, loss_mask

OPEN, CLOSE = "«", "»"
PIECE_CHARS = 600  # a longer stretch of text shows its start and end around an elision


def marked_text(
    tokenizer: Any, token_ids: Sequence[int], carries_loss: Sequence[bool], max_chars: int = PIECE_CHARS
) -> str:
    """The decoded tokens, special tokens included, with each run that carries loss between « and »;
    a run longer than `max_chars` characters keeps its start and end around "… (N tokens) …"."""
    pieces, start = [], 0
    for loss, run in groupby(carries_loss):
        length = len(list(run))
        text = tokenizer.decode(list(token_ids[start : start + length]), skip_special_tokens=False)
        if len(text) > max_chars:
            text = f"{text[: max_chars * 2 // 3]} … ({length} tokens) … {text[-max_chars // 3 :]}"
        pieces.append(f"{OPEN}{text}{CLOSE}" if loss else text)
        start += length
    return "".join(pieces)


def loss_preview_markdown(tokenizer: Any, rows_by_style: Mapping[str, dict[str, Any]], mode: LossMode,
                          variants: Sequence[str]) -> str:  # fmt: skip
    """One fenced block per style: its row as training renders it, loss-carrying text in «…»,
    under a heading with the row's article, token count and how many tokens carry loss."""
    lines = [f"Loss rule `{mode.value}` ({', '.join(variants)}): the text between {OPEN} and {CLOSE} carries loss; "
             "the rest is context the model reads but is not trained to write.", ""]  # fmt: skip
    for style, row in rows_by_style.items():
        try:
            token_ids, carries_loss = loss_mask(tokenizer, row, mode)
        except ValueError as error:
            lines += [f"**{style}**: not trained under this rule ({error})", ""]
            continue
        text = marked_text(tokenizer, token_ids, carries_loss)
        fence = "`" * max(3, 1 + max((len(m) for m in re.findall(r"`+", text)), default=0))
        lines += [f"**{style}** (article {row.get('article_id')}, chunk {row.get('chunk', 0)}): {len(token_ids)} tokens, "
                  f"{sum(carries_loss)} carry loss", "", f"{fence}text", text, fence, ""]  # fmt: skip
    return "\n".join(lines)


def preview_rows(rows: Sequence[dict[str, Any]], styles: Sequence[str]) -> dict[str, dict[str, Any]]:
    """The shortest row (fewest tokens) of each of `styles` that `rows` has, in `styles` order."""
    chosen = {}
    for style in styles:
        candidates = [row for row in rows if row.get("style") == style]
        if candidates:
            chosen[style] = min(candidates, key=lambda row: row.get("tokens", 0))
    return chosen


def training_preview(tokenizer_path: str, rows: Sequence[dict[str, Any]], styles: Sequence[str],
                     assistant_only_loss: Mapping[str, bool]) -> str:  # fmt: skip
    """Markdown previews of the shortest row of each style in `rows` (the train split), once per
    loss rule the variants train with (`assistant_only_loss`: variant -> its training setting),
    rendered with the base model's tokenizer at `tokenizer_path`."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tokenizer_path)
    variants_by_mode: dict[LossMode, list[str]] = {}
    for variant, flag in assistant_only_loss.items():
        variants_by_mode.setdefault(choose_loss_mode(tokenizer, flag), []).append(variant)
    chosen = preview_rows(rows, styles)
    return "\n\n".join(
        loss_preview_markdown(tokenizer, chosen, mode, variants) for mode, variants in variants_by_mode.items()
    )
