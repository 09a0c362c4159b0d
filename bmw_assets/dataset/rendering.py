"""Render rows with the tokenizer's own chat template and count their tokens."""

from __future__ import annotations

from typing import Any


def template_supports_thinking(tokenizer: Any) -> bool:
    """True when the chat template reads `enable_thinking` (Qwen3 does, SmolLM2 does not)."""
    template = tokenizer.chat_template
    if isinstance(template, dict):
        template = template.get("default", "")
    return "enable_thinking" in (template or "")


def render_chat(tokenizer: Any, messages: list[dict[str, str]], thinking: bool) -> str:
    """The conversation as the training text, exactly as `apply_chat_template` renders it.

    `enable_thinking` is passed only to templates that know it.
    """
    extra = {"enable_thinking": thinking} if template_supports_thinking(tokenizer) else {}
    return tokenizer.apply_chat_template(messages, tokenize=False, **extra)


def render_plain(tokenizer: Any, content: str) -> str:
    """Plain text for continued pre-training: the content followed by the end-of-sequence token."""
    return content + (tokenizer.eos_token or "")


def count_tokens(tokenizer: Any, text: str) -> int:
    """Number of tokens of an already rendered text (its special tokens are in the text)."""
    return len(tokenizer(text, add_special_tokens=False)["input_ids"])
