"""Forgetting probe: perplexity on general English that has nothing to do with press
releases, compared with the base model's by the caller.

The probe text is (1) what the *base* model itself writes greedily for fixed neutral
prompts, generated once and stored in a JSON file so every variant is scored on the
same text, and (2) the Apache License 2.0 text that the installed `transformers`
distribution ships (`transformers-*.dist-info/licenses/LICENSE`): stable, plain
English prose, present wherever this project runs.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from importlib import metadata
from pathlib import Path

from bmw_assets.atomic import write_json_atomic
from bmw_assets.evaluation.generation import chat_prompt_ids, generate_greedy
from bmw_assets.evaluation.perplexity import PerplexityResult, text_perplexity

NEUTRAL_PROMPTS = (
    "Write a short paragraph about how bread is baked.",
    "Describe a walk through a forest in autumn.",
    "Explain why the sky is blue to a curious child.",
    "Tell a short story about a cat who finds a key.",
    "What are some good habits for getting enough sleep?",
    "Describe how a river changes from its source to the sea.",
)
LICENSE_DISTRIBUTION = "transformers"


def packaged_license_text(distribution: str = LICENSE_DISTRIBUTION) -> str:
    """The license text shipped in `distribution`'s metadata (the Apache License 2.0 for
    transformers), without its copyright line."""
    files = metadata.distribution(distribution).files or []
    license_files = [f for f in files if f.name.upper().startswith("LICENSE")]
    if not license_files:
        raise FileNotFoundError(f"the installed {distribution} distribution ships no LICENSE file")
    text = license_files[0].locate().read_text(encoding="utf-8")
    # The copyright line names a company; the probe wants only the general prose.
    return text[text.find("Apache License") :] if "Apache License" in text else text


def build_probe(
    model, tokenizer, path: Path, *, prompts: Sequence[str] = NEUTRAL_PROMPTS, max_new_tokens: int = 128
) -> list[str]:
    """Generate the base model's greedy answers to `prompts`, add the packaged license
    text, store them as JSON {"prompts", "generated", "packaged_text", "source"} at `path`
    and return the probe texts. Call it with the BASE model."""
    generated = generate_greedy(
        model, tokenizer, [chat_prompt_ids(tokenizer, p, enable_thinking=False) for p in prompts],
        max_new_tokens=max_new_tokens,
    )
    payload = {
        "prompts": list(prompts),
        "generated": generated,
        "packaged_text": packaged_license_text(),
        "source": f"{LICENSE_DISTRIBUTION} {metadata.version(LICENSE_DISTRIBUTION)} LICENSE",
    }
    write_json_atomic(Path(path), payload)
    return probe_texts(Path(path))


def probe_texts(path: Path) -> list[str]:
    """The probe texts stored at `path` by `build_probe`: generated texts, then the packaged text."""
    payload = json.loads(Path(path).read_text(encoding="utf-8"))
    return [text for text in [*payload["generated"], payload["packaged_text"]] if text.strip()]


def general_text_probe(
    model,
    tokenizer,
    probe_path: Path,
    *,
    max_length: int,
    stride: int,
    batch_size: int = 1,
    progress: Callable[[str], None] | None = None,
) -> PerplexityResult:
    """Sliding-window perplexity of `model` on the probe texts stored at `probe_path`."""
    if not Path(probe_path).is_file():
        raise FileNotFoundError(f"probe file {probe_path} is missing: build it once with the base model (build_probe)")
    return text_perplexity(
        model, tokenizer, probe_texts(Path(probe_path)),
        max_length=max_length, stride=stride, batch_size=batch_size, progress=progress,
    )
