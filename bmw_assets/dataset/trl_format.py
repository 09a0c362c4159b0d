"""Views of dataset rows in the other formats TRL's SFTTrainer takes."""

from __future__ import annotations

from typing import Any


def to_prompt_completion(row: dict[str, Any]) -> dict[str, list[dict[str, str]]]:
    """A chat row as TRL's conversational prompt-completion pair: every turn before the last
    assistant message is the prompt, that message the completion.

    SFTTrainer then computes the loss on the completion only (`completion_only_loss`),
    which is how to train on answers alone when the chat template has no
    `{% generation %}` markers (SmolLM2's has none, so `assistant_only_loss` is refused).
    Raises ValueError for a row without a prompt (style "article").
    """
    messages = row["messages"]
    if len(messages) < 2 or messages[-1]["role"] != "assistant":
        raise ValueError(
            f"row {row.get('article_id')}/{row.get('style')} has no prompt before its last assistant turn; "
            "only instruct and qa rows have a prompt-completion form"
        )
    return {"prompt": messages[:-1], "completion": messages[-1:]}
