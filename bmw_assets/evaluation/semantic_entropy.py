"""Semantic entropy (Kuhn et al.; jlko/semantic_uncertainty): sample answers, cluster
them by meaning, and take the entropy over clusters. Small pure functions, each
testable alone, plus `semantic_entropy_for_questions`, which runs the model.

Entropies are in nats. The low-temperature answer whose correctness the entropy
should predict is the greedy fact-recall answer (temperature -> 0).
"""

from __future__ import annotations

import math
import zlib
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

from bmw_assets.evaluation.generation import chat_prompt_ids, sample_answers
from bmw_assets.evaluation.judges import MeaningJudge

# Below this many questions of each kind (right and wrong) the AUROC is too noisy to report.
MIN_AUROC_PER_CLASS = 2


def cluster_by_meaning(question: str, answers: Sequence[str], judge: MeaningJudge) -> list[int]:
    """Cluster id of each answer: an answer joins the first cluster whose first member
    the judge finds equivalent to it, else opens a new cluster. Ids are 0, 1, ... in order."""
    ids: list[int] = []
    representatives: list[str] = []
    for answer in answers:
        for cluster, representative in enumerate(representatives):
            if answer == representative or judge.equivalent(question, representative, answer):
                ids.append(cluster)
                break
        else:
            ids.append(len(representatives))
            representatives.append(answer)
    return ids


def discrete_entropy(cluster_ids: Sequence[int]) -> float:
    """Entropy (nats) of the cluster frequencies: 0 when all answers share a meaning,
    log N when N answers all differ."""
    if not cluster_ids:
        raise ValueError("discrete_entropy needs at least one answer")
    total = len(cluster_ids)
    return -sum(c / total * math.log(c / total) for c in Counter(cluster_ids).values())


def likelihood_weighted_entropy(cluster_ids: Sequence[int], log_likelihoods: Sequence[float]) -> float:
    """Entropy (nats) over clusters whose probability is the normalised sum of
    exp(sequence log-likelihood) of their answers (computed with log-sum-exp)."""
    if len(cluster_ids) != len(log_likelihoods) or not cluster_ids:
        raise ValueError(f"need one log-likelihood per answer, got {len(log_likelihoods)} for {len(cluster_ids)}")
    peak = max(log_likelihoods)
    mass: dict[int, float] = {}
    for cluster, log_likelihood in zip(cluster_ids, log_likelihoods, strict=True):
        mass[cluster] = mass.get(cluster, 0.0) + math.exp(log_likelihood - peak)
    total = sum(mass.values())
    return -sum(m / total * math.log(m / total) for m in mass.values() if m > 0)


def auroc_unavailable(correct: Sequence[bool]) -> str | None:
    """Why the entropy AUROC cannot be computed for these greedy answers, or None when it can."""
    right = sum(bool(c) for c in correct)
    if min(right, len(correct) - right) < MIN_AUROC_PER_CLASS:
        return (f"needs at least {MIN_AUROC_PER_CLASS} right and {MIN_AUROC_PER_CLASS} wrong greedy answers; "
                f"got {right} right and {len(correct) - right} wrong")  # fmt: skip
    return None


def entropy_auroc(entropies: Sequence[float], correct: Sequence[bool]) -> float | None:
    """AUROC of the entropy as a score for "the answer is wrong" (1.0: every wrong answer
    has a higher entropy than every right one; 0.5: chance). None when there are fewer than
    `MIN_AUROC_PER_CLASS` right or wrong answers. Ties count half (scikit-learn's rule)."""
    from sklearn.metrics import roc_auc_score

    if auroc_unavailable(correct):
        return None
    return float(roc_auc_score([not c for c in correct], entropies))


@dataclass(frozen=True)
class QuestionEntropy:
    question: str
    samples: list[str]
    log_likelihoods: list[float]
    cluster_ids: list[int]
    discrete_entropy: float
    weighted_entropy: float


@dataclass(frozen=True)
class SemanticEntropyResult:
    """Per-question entropies, their means (nats) and the AUROC of the weighted entropy
    against wrong fact-recall answers (None when too few questions)."""

    questions: list[QuestionEntropy]
    mean_discrete_entropy: float
    mean_weighted_entropy: float
    auroc: float | None
    auroc_unavailable: str | None = None  # why auroc is None

    def to_dict(self) -> dict:
        return {
            "mean_discrete_entropy": self.mean_discrete_entropy,
            "mean_weighted_entropy": self.mean_weighted_entropy,
            "auroc": self.auroc,
            "auroc_unavailable": self.auroc_unavailable,
            "n": len(self.questions),
            "questions": [asdict(q) for q in self.questions],
        }


def question_seed(seed: int, question: str) -> int:
    """A sampling seed for `question` under the run's `seed`."""
    return (seed * 1_000_003 + zlib.crc32(question.encode("utf-8"))) % 2**31


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else float("nan")


def semantic_entropy_for_questions(
    model,
    tokenizer,
    questions: Sequence[str],
    correct: Sequence[bool],
    judge: MeaningJudge,
    *,
    samples: int = 10,
    temperature: float = 1.0,
    max_new_tokens: int = 64,
    seed: int | None = None,
    progress: Callable[[str], None] | None = None,
    system_prompt: str | None = None,
) -> SemanticEntropyResult:
    """Sample `samples` answers per question (one batched `generate` call each, thinking
    off), cluster them with `judge`, and score entropies; `correct[i]` is the greedy
    answer's fact-recall correctness, used for the AUROC. With `seed`, each question's
    samples are drawn from a seed of its own text, so reruns and other question lists
    give a question the same samples."""
    results: list[QuestionEntropy] = []
    for number, question in enumerate(questions, start=1):
        prompt = chat_prompt_ids(tokenizer, question, enable_thinking=False, system_prompt=system_prompt)
        sampled = sample_answers(
            model,
            tokenizer,
            prompt,
            n=samples,
            temperature=temperature,
            max_new_tokens=max_new_tokens,
            seed=None if seed is None else question_seed(seed, question),
        )
        ids = cluster_by_meaning(question, sampled.texts, judge)
        results.append(
            QuestionEntropy(
                question=question,
                samples=sampled.texts,
                log_likelihoods=sampled.log_likelihoods,
                cluster_ids=ids,
                discrete_entropy=discrete_entropy(ids),
                weighted_entropy=likelihood_weighted_entropy(ids, sampled.log_likelihoods),
            )
        )
        if progress is not None:
            progress(f"semantic entropy: {number}/{len(questions)} questions, {max(ids) + 1} meanings")
    return SemanticEntropyResult(
        questions=results,
        mean_discrete_entropy=_mean([q.discrete_entropy for q in results]),
        mean_weighted_entropy=_mean([q.weighted_entropy for q in results]),
        auroc=entropy_auroc([q.weighted_entropy for q in results], correct),
        auroc_unavailable=auroc_unavailable(correct),
    )
