"""Split a Qwen3-style completion into its `<think>` block and its answer."""

from __future__ import annotations

THINK_OPEN = "<think>"
THINK_CLOSE = "</think>"


def split_thinking(text: str) -> tuple[str, str]:
    """Return (thinking, answer), both stripped.

    - "<think>t</think>a" -> ("t", "a"); an empty think block gives ("", "a");
    - "t</think>a" (the template already opened the block in the prompt) -> ("t", "a");
    - "<think>t" never closed (generation stopped while thinking) -> ("t", "");
    - no tags -> ("", text).
    """
    if THINK_CLOSE in text:
        thinking, answer = text.split(THINK_CLOSE, 1)
        _, _, thinking = thinking.rpartition(THINK_OPEN)
        return thinking.strip(), answer.strip()
    if THINK_OPEN in text:
        before, _, thinking = text.partition(THINK_OPEN)
        return thinking.strip(), before.strip()
    return "", text.strip()
