"""Sliding-window perplexity against a brute-force reference on a tiny random Llama.

The model is randomly initialised from a config (no weights can be downloaded
here); its numbers are meaningless but fixed, which is all the comparison needs.
"""

from __future__ import annotations

import math

import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM

from bmw_assets.evaluation.perplexity import sliding_windows, token_perplexity


@pytest.fixture(scope="module")
def tiny_llama() -> LlamaForCausalLM:
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=61,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=128,
    )
    return LlamaForCausalLM(config).eval()


@pytest.fixture(scope="module")
def documents() -> list[list[int]]:
    generator = torch.Generator().manual_seed(1)
    return [torch.randint(3, 61, (n,), generator=generator).tolist() for n in (37, 23, 9)]


def brute_force(model, documents, max_length, stride) -> tuple[float, int]:
    """One forward per predicted token: token t is scored by the first window
    [k*stride, k*stride + max_length) holding it with context, from that window's start."""
    nll, count = 0.0, 0
    for document in documents:
        for t in range(1, len(document)):
            begins = [b for b in range(0, t, stride) if t < b + max_length]
            if not begins:
                continue  # a gap between windows
            context = torch.tensor([document[begins[0] : t]])
            with torch.no_grad():
                logits = model(input_ids=context).logits[0, -1].double()
            nll -= float(torch.log_softmax(logits, dim=-1)[document[t]])
            count += 1
    return nll, count


@pytest.mark.parametrize(
    ("max_length", "stride"),
    [(8, 3), (8, 7), (16, 5), (8, 8), (6, 9), (64, 4)],
    ids=["stride<max", "stride=max-1", "longer-window", "stride=max", "stride>max", "window>doc"],
)
def test_matches_brute_force(tiny_llama, documents, max_length, stride):
    expected_nll, expected_count = brute_force(tiny_llama, documents, max_length, stride)
    result = token_perplexity(tiny_llama, documents, max_length=max_length, stride=stride, batch_size=1)
    assert result.tokens == expected_count
    assert result.nll_sum == pytest.approx(expected_nll, rel=1e-5)
    assert result.perplexity == pytest.approx(math.exp(expected_nll / expected_count), rel=1e-5)


def test_every_token_but_the_first_is_scored_when_stride_below_max_length(tiny_llama, documents):
    result = token_perplexity(tiny_llama, documents, max_length=8, stride=3)
    assert result.tokens == sum(len(d) - 1 for d in documents)


def test_gaps_are_left_unscored():
    # stride == max_length: each later window's first token has no context inside it.
    assert [(w.begin, w.end, w.target_begin) for w in sliding_windows(12, 4, 4)] == [(0, 4, 1), (4, 8, 5), (8, 12, 9)]
    # stride > max_length: tokens 4 and 5 lie between windows.
    assert [(w.begin, w.end, w.target_begin) for w in sliding_windows(12, 4, 6)] == [(0, 4, 1), (6, 10, 7)]


def test_batched_equals_unbatched(tiny_llama, documents):
    one = token_perplexity(tiny_llama, documents, max_length=8, stride=3, batch_size=1)
    batched = token_perplexity(tiny_llama, documents, max_length=8, stride=3, batch_size=5, pad_id=0)
    assert batched.tokens == one.tokens
    assert batched.nll_sum == pytest.approx(one.nll_sum, rel=1e-5)


@pytest.mark.parametrize(("max_length", "stride"), [(1, 1), (8, 0)])
def test_rejects_impossible_windows(max_length, stride):
    with pytest.raises(ValueError, match="max_length|stride"):
        sliding_windows(10, max_length, stride)


def test_softmax_chunks_change_nothing(tiny_llama, documents, monkeypatch):
    import bmw_assets.evaluation.perplexity as perplexity

    expected_nll, expected_count = brute_force(tiny_llama, documents, 8, 3)
    monkeypatch.setattr(perplexity, "SOFTMAX_CHUNK_TOKENS", 7)  # each batch's scored tokens in several chunks
    result = token_perplexity(tiny_llama, documents, max_length=8, stride=3, batch_size=5, pad_id=0)
    assert result.tokens == expected_count
    assert result.nll_sum == pytest.approx(expected_nll, rel=1e-5)


def test_each_document_gets_its_own_share_in_any_batching(tiny_llama, documents):
    """Windows of different documents share batches; each document's NLL and tokens must still be its own."""
    alone = [token_perplexity(tiny_llama, [d], max_length=8, stride=3) for d in documents]
    batched = token_perplexity(tiny_llama, documents, max_length=8, stride=3, batch_size=5, pad_id=0)
    assert [n for _, n in batched.documents] == [r.tokens for r in alone]
    assert [nll for nll, _ in batched.documents] == pytest.approx([r.nll_sum for r in alone], rel=1e-5)


def test_standard_error_resamples_documents(tiny_llama, documents):
    single = token_perplexity(tiny_llama, documents[:1], max_length=8, stride=3)
    assert single.standard_error is None  # one document: nothing to resample
    result = token_perplexity(tiny_llama, documents, max_length=8, stride=3)
    assert 0 < result.standard_error < result.perplexity
    same = type(result)(result.nll_sum, result.tokens, result.perplexity, [(2.0, 1)] * 4)
    assert same.standard_error == pytest.approx(0.0, abs=1e-12)  # identical documents: no spread
    assert result.to_dict()["standard_error"] == result.standard_error
