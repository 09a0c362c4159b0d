"""Sample generations for a report: fixed prompts answered greedily, with thinking on
and off where the chat template supports the switch (Qwen3), once otherwise (SmolLM2)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bmw_assets.evaluation.generation import (
    chat_prompt_ids,
    generate_greedy,
    supports_thinking,
)
from bmw_assets.evaluation.thinking import split_thinking


@dataclass(frozen=True)
class SampleGeneration:
    """One prompt's completion; `enable_thinking` is None when the template ignores it."""

    prompt: str
    enable_thinking: bool | None
    thinking: str
    answer: str


def generate_samples(
    model, tokenizer, prompts: Sequence[str], *, max_new_tokens: int, system_prompt: str | None = None
) -> list[SampleGeneration]:
    """Greedy completions of `prompts` (at most `max_new_tokens` tokens each), split into
    thinking and answer; each prompt twice (thinking on, off) when the template supports it."""
    modes: list[bool | None] = [True, False] if supports_thinking(tokenizer) else [None]
    cases = [(prompt, mode) for prompt in prompts for mode in modes]
    texts = generate_greedy(
        model,
        tokenizer,
        [chat_prompt_ids(tokenizer, p, enable_thinking=m, system_prompt=system_prompt) for p, m in cases],
        max_new_tokens=max_new_tokens,
    )
    return [SampleGeneration(p, m, *split_thinking(t)) for (p, m), t in zip(cases, texts, strict=True)]
