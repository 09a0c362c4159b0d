"""How much each decoder layer (or block of layers) changes the hidden state.

Two scores from the same hidden states, averaged over the real (attention-mask 1)
tokens of the calibration batches:

- Block Influence of layer i (Men et al., "ShortGPT"): 1 - cos(h_i, h_{i+1}),
  where h_i enters layer i. Low means the layer barely changes its input.
- Angular distance of the block of n layers starting at l (Gromov et al., "The
  Unreasonable Ineffectiveness of the Deeper Layers"): arccos(cos(h_l, h_{l+n})) / pi.

Imports torch only: the training entry point runs it on GPU hosts.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class LayerScores:
    """Per-layer Block Influence (length num_layers) and the angular distance of
    every block of `block_size` layers, indexed by its first layer (length
    num_layers - block_size + 1); `tokens` is how many tokens were averaged."""

    block_influence: list[float]
    angular_distance: list[float]
    block_size: int
    tokens: int


def cosine_per_token(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Cosine similarity of two [batch, tokens, hidden] tensors along hidden, in float32: [batch, tokens]."""
    return torch.nn.functional.cosine_similarity(a.float(), b.float(), dim=-1, eps=1e-8)


def block_influence_per_token(h_in: torch.Tensor, h_out: torch.Tensor) -> torch.Tensor:
    """1 - cos(h_in, h_out) per token: 0 for a layer that leaves its input unchanged, up to 2."""
    return 1.0 - cosine_per_token(h_in, h_out)


def angular_distance_per_token(h_in: torch.Tensor, h_out: torch.Tensor) -> torch.Tensor:
    """arccos(cos(h_in, h_out)) / pi per token, in [0, 1]."""
    return torch.arccos(cosine_per_token(h_in, h_out).clamp(-1.0, 1.0)) / torch.pi


def decoder_hidden_states(model: torch.nn.Module, batch: Mapping[str, torch.Tensor]) -> list[torch.Tensor]:
    """The num_layers + 1 hidden states of one forward pass: entry i enters decoder
    layer i, the last one leaves the last layer *before* the final norm (transformers
    reports it after the norm, which would distort the last layer's score)."""
    final_norm = model.model.norm
    captured: list[torch.Tensor] = []
    hook = final_norm.register_forward_hook(lambda _module, args, _output: captured.append(args[0]))
    try:
        outputs = model(
            input_ids=batch["input_ids"],
            attention_mask=batch["attention_mask"],
            output_hidden_states=True,
            use_cache=False,
        )
    finally:
        hook.remove()
    return [*outputs.hidden_states[:-1], captured[-1]]


def score_layers(
    model: torch.nn.Module,
    calibration_batches: Iterable[Mapping[str, torch.Tensor]],
    block_size: int = 1,
    max_rows: int | None = None,
    progress: Callable[[str], None] | None = None,
) -> LayerScores:
    """Run the model once over the calibration batches (dicts with `input_ids` and
    `attention_mask`, [batch, tokens]) and average both scores over real tokens.

    Stops after `max_rows` rows (None: all). Raises ValueError when no token was seen.
    """
    num_layers = model.config.num_hidden_layers
    if not 1 <= block_size <= num_layers:
        raise ValueError(f"block_size {block_size} is out of range; use 1..{num_layers}")
    device = next(model.parameters()).device
    bi_sums = torch.zeros(num_layers, dtype=torch.float64)
    angular_sums = torch.zeros(num_layers - block_size + 1, dtype=torch.float64)
    tokens = rows = 0
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            for batch in calibration_batches:
                if max_rows is not None and rows >= max_rows:
                    break
                size = batch["input_ids"].shape[0]
                take = size if max_rows is None else min(size, max_rows - rows)
                batch = {key: batch[key][:take].to(device) for key in ("input_ids", "attention_mask")}
                hidden = decoder_hidden_states(model, batch)
                mask = batch["attention_mask"].float()
                for i in range(num_layers):
                    bi_sums[i] += float((block_influence_per_token(hidden[i], hidden[i + 1]) * mask).sum())
                for start in range(num_layers - block_size + 1):
                    distance = angular_distance_per_token(hidden[start], hidden[start + block_size])
                    angular_sums[start] += float((distance * mask).sum())
                tokens += int(mask.sum().item())
                rows += take
                if progress is not None:
                    progress(f"scored layers on {rows} calibration rows ({tokens} tokens)")
    finally:
        model.train(was_training)
    if tokens == 0:
        raise ValueError("the calibration batches hold no tokens (empty, or attention_mask all 0)")
    return LayerScores(
        block_influence=(bi_sums / tokens).tolist(),
        angular_distance=(angular_sums / tokens).tolist(),
        block_size=block_size,
        tokens=tokens,
    )
