"""Sliding-window perplexity of a causal LM, as in Hugging Face's guide
"Perplexity of fixed-length models", token-weighted across documents.

Window rule (one rule for every stride): window k feeds tokens
[k*stride, k*stride + max_length) of a document (clipped to its end) and scores
every token in it that has at least one token of context inside the window and
that no earlier window scored; the tokens before those are context only (label
-100). The first token of a document is never predicted. Consequences:

- stride < max_length: every token after the first is scored exactly once, with
  at least max_length - stride tokens of context (the usual setting);
- stride == max_length: disjoint windows; the first token of each window after
  the first has no context inside its window and is not scored;
- stride > max_length: the tokens between windows are not scored either.

`PerplexityResult.tokens` always counts exactly the tokens that were scored.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from bmw_assets.evaluation.bootstrap import bootstrap_error

IGNORE_INDEX = -100
SOFTMAX_CHUNK_TOKENS = 1024  # scored positions per fp32 softmax (151,936 x 1024 x 4 bytes = 0.6 GB for Qwen3)


@dataclass(frozen=True)
class Window:
    """One model input: tokens [begin, end) of document `document`; tokens
    [target_begin, end) are scored, the ones before are context."""

    document: int
    begin: int
    end: int
    target_begin: int


@dataclass(frozen=True)
class PerplexityResult:
    """Sum of negative log-likelihoods (nats) over `tokens` scored tokens, and
    exp(nll_sum / tokens) (NaN when nothing was scored). `documents` holds each
    document's (nll_sum, tokens), the unit the standard error resamples."""

    nll_sum: float
    tokens: int
    perplexity: float
    documents: list[tuple[float, int]] = field(default_factory=list)

    @property
    def standard_error(self) -> float | None:
        """Bootstrap standard error of the perplexity over documents (texts are the independent
        units: tokens of one text are not); None with fewer than two scored documents."""
        return bootstrap_error([(nll, n) for nll, n in self.documents if n], math.exp)

    def to_dict(self) -> dict[str, float | int | None | list]:
        return {
            "nll_sum": self.nll_sum,
            "tokens": self.tokens,
            "perplexity": self.perplexity,
            "standard_error": self.standard_error,
            "documents": [list(d) for d in self.documents],
        }


def sliding_windows(n_tokens: int, max_length: int, stride: int, document: int = 0) -> list[Window]:
    """The windows covering a document of `n_tokens` tokens (see the module docstring)."""
    if max_length < 2:
        raise ValueError(f"max_length must be at least 2 tokens (one context, one target), got {max_length}")
    if stride < 1:
        raise ValueError(f"stride must be a positive number of tokens, got {stride}")
    windows: list[Window] = []
    scored_until = 1  # token 0 is never predicted
    for begin in range(0, n_tokens, stride):
        end = min(begin + max_length, n_tokens)
        target_begin = max(scored_until, begin + 1)
        if target_begin < end:
            windows.append(Window(document, begin, end, target_begin))
            scored_until = end
        if end == n_tokens:
            break
    return windows


def _window_batches(windows: list[Window], batch_size: int) -> list[list[Window]]:
    # Longest first so each batch holds windows of (nearly) equal length: little padding.
    ordered = sorted(windows, key=lambda w: (-(w.end - w.begin), w.document, w.begin))
    return [ordered[i : i + batch_size] for i in range(0, len(ordered), batch_size)]


@torch.no_grad()
def _batch_nll(
    model: torch.nn.Module, documents: Sequence[Sequence[int]], batch: list[Window], pad_id: int
) -> list[tuple[float, int]]:
    """(NLL sum in nats, scored tokens) of each window of `batch`, in batch order."""
    width = max(w.end - w.begin for w in batch)
    input_ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
    attention_mask = torch.zeros((len(batch), width), dtype=torch.long)
    labels = torch.full((len(batch), width), IGNORE_INDEX, dtype=torch.long)
    for row, window in enumerate(batch):
        tokens = torch.tensor(documents[window.document][window.begin : window.end], dtype=torch.long)
        length = window.end - window.begin
        input_ids[row, :length] = tokens  # right padding: causal attention keeps real positions exact
        attention_mask[row, :length] = 1
        first_target = window.target_begin - window.begin
        labels[row, first_target:length] = tokens[first_target:]
    device = next(model.parameters()).device
    logits = model(input_ids=input_ids.to(device), attention_mask=attention_mask.to(device)).logits
    # Position i predicts token i + 1: shift here rather than trusting the model's loss,
    # so the scored-token count is exact. Only scored positions go through the softmax, a
    # chunk at a time: fp32 log-probabilities of all 4 x 4096 positions of a Qwen3 batch
    # take two 9 GiB copies (Qwen3-8B shape on an H200: 33.8 GiB peak with them, 22.3 without).
    shifted_labels = labels[:, 1:].to(device)
    rows, positions = (shifted_labels != IGNORE_INDEX).nonzero(as_tuple=True)
    nll = torch.zeros(len(batch), dtype=torch.float64, device=device)
    for start in range(0, len(rows), SOFTMAX_CHUNK_TOKENS):
        chunk = slice(start, start + SOFTMAX_CHUNK_TOKENS)
        chunk_logits = logits[rows[chunk], positions[chunk]].float()
        token_nll = F.cross_entropy(chunk_logits, shifted_labels[rows[chunk], positions[chunk]], reduction="none")
        nll.index_add_(0, rows[chunk], token_nll.double())
    counts = torch.bincount(rows, minlength=len(batch)).tolist()
    return list(zip(nll.tolist(), counts, strict=True))


def token_perplexity(
    model: torch.nn.Module,
    documents: Sequence[Sequence[int]],
    *,
    max_length: int,
    stride: int,
    batch_size: int = 1,
    pad_id: int = 0,
    progress: Callable[[str], None] | None = None,
) -> PerplexityResult:
    """Perplexity of `model` over token-id `documents` (each a list of ids).

    Windows of at most `max_length` tokens advance by `stride` tokens; windows from
    all documents are run `batch_size` at a time (right-padded, padded positions
    masked). Returns the NLL sum (nats), the number of scored tokens and
    exp(sum NLL / scored tokens) over all documents together, and each document's share.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    windows = [
        window
        for index, document in enumerate(documents)
        for window in sliding_windows(len(document), max_length, stride, document=index)
    ]
    batches = _window_batches(windows, batch_size)
    per_document = [[0.0, 0] for _ in documents]
    tokens = 0
    was_training = model.training
    model.eval()
    try:
        for number, batch in enumerate(batches, start=1):
            scored = _batch_nll(model, documents, batch, pad_id)
            for window, (window_nll, window_tokens) in zip(batch, scored, strict=True):
                per_document[window.document][0] += window_nll
                per_document[window.document][1] += window_tokens
                tokens += window_tokens
            if progress is not None and (number % 10 == 0 or number == len(batches)):
                progress(f"perplexity: {number}/{len(batches)} batches, {tokens} tokens scored")
    finally:
        model.train(was_training)
    nll_sum = sum(nll for nll, _ in per_document)
    perplexity = math.exp(nll_sum / tokens) if tokens else float("nan")
    return PerplexityResult(nll_sum=nll_sum, tokens=tokens, perplexity=perplexity,
                            documents=[(nll, n) for nll, n in per_document])  # fmt: skip


def text_perplexity(
    model: torch.nn.Module,
    tokenizer,
    texts: Sequence[str],
    *,
    max_length: int,
    stride: int,
    batch_size: int = 1,
    progress: Callable[[str], None] | None = None,
) -> PerplexityResult:
    """`token_perplexity` over `texts` tokenized with `tokenizer` (its own special-token rule)."""
    documents = [tokenizer(text)["input_ids"] for text in texts if text]
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    return token_perplexity(
        model, documents, max_length=max_length, stride=stride, batch_size=batch_size, pad_id=pad_id, progress=progress
    )
