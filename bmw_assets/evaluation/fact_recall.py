"""Fact recall: questions about article facts answered greedily through the chat
template and scored by normalised exact or contains match (SQuAD-style normalisation
plus number normalisation)."""

from __future__ import annotations

import json
import math
import re
import string
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from bmw_assets.answer_match import answer_span
from bmw_assets.evaluation.generation import chat_prompt_ids, generate_greedy

SPLITS = ("train", "test")
_ARTICLES = re.compile(r"\b(a|an|the)\b")
# "1,200" and "1 200" are one number; the separator is dropped before punctuation goes.
_THOUSANDS = re.compile(r"(?<=\d)[,\s](?=\d{3}\b)")
_DECIMAL = re.compile(r"(?<=\d)\.(?=\d)")


@dataclass(frozen=True)
class FactQuestion:
    """One row of the facts file: a question about article `article_id`, its
    reference answer, whether the article was in the training split, and the
    article's sentence stating the answer (None where the dataset has none)."""

    article_id: str
    split: str
    question: str
    answer: str
    sentence: str | None = None


@dataclass(frozen=True)
class FactAnswer:
    question: str
    reference: str
    prediction: str
    correct: bool


@dataclass(frozen=True)
class FactRecallResult:
    """Per-question answers and the share answered correctly (NaN with no questions)."""

    answers: list[FactAnswer]
    rate: float

    @property
    def n(self) -> int:
        return len(self.answers)

    @property
    def standard_error(self) -> float | None:
        """Standard error of the rate, Agresti-Coull (two successes and two failures added), so
        that 0 of 24 reads as "0 ± 0.04", not as a certain 0; None with no questions."""
        if not self.answers:
            return None
        correct = sum(a.correct for a in self.answers)
        adjusted = (correct + 2) / (self.n + 4)
        return math.sqrt(adjusted * (1 - adjusted) / (self.n + 4))

    def to_dict(self) -> dict:
        return {"rate": self.rate, "n": self.n, "standard_error": self.standard_error,
                "answers": [asdict(a) for a in self.answers]}  # fmt: skip


def load_facts(path: Path) -> list[FactQuestion]:
    """Read a JSONL facts file (article_id, split train|test, question, answer)."""
    facts = []
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        row = json.loads(line)
        if row.get("split") not in SPLITS:
            raise ValueError(f"{path}:{number}: split must be one of {SPLITS}, got {row.get('split')!r}")
        facts.append(FactQuestion(str(row["article_id"]), row["split"], row["question"], str(row["answer"]),
                                  row.get("sentence")))  # fmt: skip
    return facts


def normalize_answer(text: str) -> str:
    """Lowercase, join digit groups ("1,200" -> "1200"), keep decimal points, drop other
    punctuation and the articles a/an/the, collapse whitespace."""
    text = _THOUSANDS.sub("", text.lower())
    text = _DECIMAL.sub("\0", text)  # protect "3.5" from the punctuation pass
    text = "".join(" " if ch in string.punctuation else ch for ch in text).replace("\0", ".")
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def answer_matches(prediction: str, reference: str) -> bool:
    """True when the normalised reference equals the normalised prediction or occurs in
    it as whole words."""
    predicted, expected = normalize_answer(prediction), normalize_answer(reference)
    if not expected:
        return False
    return predicted == expected or f" {expected} " in f" {predicted} "


def guessed_recalls(answers: Sequence[Mapping[str, Any]]) -> int:
    """How many right answers (a report's `answers`: question, reference, prediction, correct) are
    values the model also gives to other questions: "Plant Berlin" said for every "where is it
    built?" is right once by chance, not remembered."""
    given = Counter(a["reference"] for a in answers for b in answers if answer_matches(b["prediction"], a["reference"]))
    return sum(a["correct"] and given[a["reference"]] > 1 for a in answers)


def score_fact_recall(questions: Sequence[FactQuestion], predictions: Sequence[str]) -> FactRecallResult:
    """Score `predictions[i]` against `questions[i].answer`."""
    if len(questions) != len(predictions):
        raise ValueError(f"got {len(predictions)} predictions for {len(questions)} questions")
    answers = [
        FactAnswer(q.question, q.answer, p, answer_matches(p, q.answer))
        for q, p in zip(questions, predictions, strict=True)
    ]
    rate = sum(a.correct for a in answers) / len(answers) if answers else float("nan")
    return FactRecallResult(answers=answers, rate=rate)


def fact_recall(
    model,
    tokenizer,
    questions: Sequence[FactQuestion],
    *,
    max_new_tokens: int,
    batch_size: int = 8,
    prompts: Sequence[str] | None = None,
    system_prompt: str | None = None,
) -> FactRecallResult:
    """Answer `questions` greedily (thinking off where the template supports it) and score them;
    `prompts[i]`, when given, is the user turn asking question i (e.g. with retrieved passages)."""
    turns = [q.question for q in questions] if prompts is None else list(prompts)
    prompt_ids = [
        chat_prompt_ids(tokenizer, turn, enable_thinking=False, system_prompt=system_prompt) for turn in turns
    ]
    predictions = generate_greedy(model, tokenizer, prompt_ids, max_new_tokens=max_new_tokens, batch_size=batch_size)
    return score_fact_recall(questions, predictions)


@dataclass(frozen=True)
class AnswerLikelihoodResult:
    """How likely a model finds each reference answer where its sentence states it: per fact, the
    mean negative log-likelihood (nats per token) of the answer's tokens, given the question (as
    asked for fact recall) and the sentence up to the answer. Greedy recall is all or nothing; this
    moves as soon as a model leans towards the right value. `perplexity` = exp(mean over facts)."""

    nll: list[float]
    unavailable: str | None = None

    @property
    def n(self) -> int:
        return len(self.nll)

    @property
    def perplexity(self) -> float:
        return math.exp(sum(self.nll) / self.n) if self.nll else float("nan")

    @property
    def standard_error(self) -> float | None:
        """Of the perplexity, by the delta method over facts; None below two facts."""
        if self.n < 2:
            return None
        mean = sum(self.nll) / self.n
        variance = sum((x - mean) ** 2 for x in self.nll) / (self.n - 1)
        return self.perplexity * math.sqrt(variance / self.n)

    def to_dict(self) -> dict:
        result = {"perplexity": self.perplexity, "n": self.n, "standard_error": self.standard_error, "nll": self.nll}
        return result | ({"unavailable": self.unavailable} if self.unavailable else {})


@torch.no_grad()
def answer_likelihood(
    model, tokenizer, questions: Sequence[FactQuestion], prompts: Sequence[str], system_prompt: str | None = None
) -> AnswerLikelihoodResult:
    """`AnswerLikelihoodResult` over the questions whose sentence states the answer; `prompts[i]` is
    the user turn asking question i. One forward pass per fact (the texts are short)."""
    nll = []
    for question, turn in zip(questions, prompts, strict=True):
        span = answer_span(question.sentence or "", question.answer)
        if span is None:
            continue
        # The answer's tokens with the space before it, as BPE splits running text (" Plant", " Oxford").
        start = span[0] - 1 if span[0] and question.sentence[span[0] - 1] == " " else span[0]
        prefix = chat_prompt_ids(tokenizer, turn, enable_thinking=False, system_prompt=system_prompt)
        prefix += tokenizer(question.sentence[:start], add_special_tokens=False)["input_ids"]
        target = tokenizer(question.sentence[start : span[1]], add_special_tokens=False)["input_ids"]
        ids = torch.tensor([prefix + target], device=model.device)
        logits = model(input_ids=ids).logits[0, len(prefix) - 1 : -1].float()
        nll.append(torch.nn.functional.cross_entropy(logits, ids[0, len(prefix) :]).item())
    if not nll:
        return AnswerLikelihoodResult([], "no question has a sentence stating its answer (no qa rows in the dataset)")
    return AnswerLikelihoodResult(nll)
