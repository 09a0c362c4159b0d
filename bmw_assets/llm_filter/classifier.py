"""The local furniture filter: logistic regression over all-MiniLM-L6-v2 sentence embeddings,
trained on the replica's labelled paragraphs.

The packaged 135M chat model cannot tell a contact line from body text (benchmarks/results/
llm_filter.json), but sentence embeddings separate them well. Training is offline, takes
seconds and is deterministic: replica releases of a training seed (not the corpus the local
profile serves) are rendered to PDF, extracted, and their paragraphs labelled against the
known body; body sentences are added one by one so short body text is not mistaken for
furniture by its length. The package ships the weights for the default settings
(`furniture_classifier.json`, written by `python -m bmw_assets.llm_filter.classifier`), so the
demo embeds only the paragraphs it judges; other settings are trained once and cached as JSON
under the storage root.

It answers like the LLM route (P(keep) per paragraph), so the decision rule, the cache and
the delete-only assembly of `filter_texts` are the same.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from bmw_assets.atomic import write_text_atomic
from bmw_assets.hashing import sha256_text
from bmw_assets.llm_filter.decision import ModelAnswers

if TYPE_CHECKING:
    import torch

CLASSIFIER_VERSION = "furniture_minilm_v2"
# Tokens embedded per paragraph: furniture shows in its first words, and long body paragraphs
# would cost the most (measured: 1,475 training texts take ~100 s at MiniLM's 256 on 2 busy cores).
MAX_TOKENS = 64


@dataclass(frozen=True)
class ClassifierSettings:
    """`training_seed`/`training_articles`: the replica corpus it learns from (another seed than the
    served corpus); `sentences_per_article`: body sentences added alone; `l2`: weight decay;
    `encode_batch`: paragraphs per embedding batch."""

    training_seed: int = 7
    training_articles: int = 40
    sentences_per_article: int = 6
    l2: float = 1e-3
    encode_batch: int = 64

    def key(self) -> str:
        return sha256_text(json.dumps([CLASSIFIER_VERSION, asdict(self)]))[:12]


def _encoder():
    from sentence_transformers import SentenceTransformer

    from bmw_assets.evaluation.judges import packaged_minilm_path

    model = SentenceTransformer(str(packaged_minilm_path()), device="cpu", model_kwargs={"use_safetensors": True})
    model.max_seq_length = MAX_TOKENS
    return model


class FurnitureClassifier:
    """P(keep) for paragraphs: the sigmoid of a linear function of their normalised MiniLM embeddings."""

    def __init__(self, weights: list[float], bias: float, meta: dict):
        self.weights = list(weights)  # torch is imported only when paragraphs are judged: the code location loads fast
        self.bias = float(bias)
        self.meta = meta
        self._model = None

    @property
    def model_id(self) -> str:
        """Names the weights (the decision cache's model key)."""
        return f"{CLASSIFIER_VERSION}:{self.meta['key']}:{self.meta['weights_sha']}"

    def _embed(self, texts: list[str], batch: int = 64) -> torch.Tensor:
        if self._model is None:
            self._model = _encoder()
        embeddings = self._model.encode(texts, batch_size=batch, convert_to_tensor=True, normalize_embeddings=True)
        return embeddings.float().clone()  # a normal tensor, not an inference-mode one (training needs autograd)

    def keep_probability(self, paragraphs: list[str]) -> list[float]:
        """P(body) for each paragraph, in order."""
        import torch

        if not paragraphs:
            return []
        logits = self._embed(paragraphs) @ torch.tensor(self.weights, dtype=torch.float32) + self.bias
        return [float(p) for p in torch.sigmoid(logits)]

    def answer_all(self, texts: dict[str, list[str]], judged: dict[str, list[int]]) -> dict[str, ModelAnswers]:
        """Answers for each text's paragraphs (by key): the `judged` ones scored in one batch, the
        others kept (P = 1)."""
        wanted = [(key, index) for key in texts for index in judged[key]]
        scores = dict(zip(wanted, self.keep_probability([texts[key][index] for key, index in wanted]), strict=True))
        return {
            key: ModelAnswers(tuple(scores.get((key, i), 1.0) for i in range(len(paragraphs))), ())
            for key, paragraphs in texts.items()
        }

    def to_json(self) -> str:
        return json.dumps({"weights": self.weights, "bias": self.bias, "meta": self.meta})

    @classmethod
    def from_json(cls, document: str) -> FurnitureClassifier:
        data = json.loads(document)
        return cls(data["weights"], data["bias"], data["meta"])


def labelled_training_texts(settings: ClassifierSettings) -> tuple[list[str], list[int]]:
    """Texts and labels (1 body, 0 furniture) from replica releases of the training seed: the
    paragraphs of their PDF text (title and teaser removed, nothing else), and single body sentences."""
    from bmw_assets.replica.corpus import build_corpus
    from bmw_assets.replica.labelled_text import body_sentences, extracted_texts, label_paragraphs
    from bmw_assets.text.cleaning import clean_pdf_text

    corpus = build_corpus(seed=settings.training_seed, size=max(12, settings.training_articles * 2))
    articles = [a for a in corpus if a.word_count < 1500][: settings.training_articles]
    texts: dict[str, int] = {}
    for article, raw in extracted_texts(articles):
        paragraphs = clean_pdf_text(raw, rules=(), front_matter=(article.title, article.teaser)).text.split("\n\n")
        for item in label_paragraphs(paragraphs, article.body_text):
            if item.label != "mixed":
                texts.setdefault(item.text, int(item.label == "body"))
        for sentence in body_sentences(article, settings.sentences_per_article):
            texts.setdefault(sentence, 1)
    ordered = sorted(texts)  # deterministic order, whatever the dict's history
    return ordered, [texts[t] for t in ordered]


def train_classifier(settings: ClassifierSettings = ClassifierSettings()) -> FurnitureClassifier:
    """Fit the classifier on `labelled_training_texts` (full-batch L-BFGS, classes weighted equally)."""
    import torch

    texts, labels = labelled_training_texts(settings)
    classifier = FurnitureClassifier([0.0] * 384, 0.0, {})
    x = classifier._embed(texts, settings.encode_batch)
    y = torch.tensor(labels, dtype=torch.float32)
    positive = float(y.mean())
    sample_weight = torch.where(y > 0, 0.5 / positive, 0.5 / (1 - positive))
    torch.manual_seed(0)
    weights = torch.zeros(x.shape[1], requires_grad=True)
    bias = torch.zeros(1, requires_grad=True)
    optimiser = torch.optim.LBFGS([weights, bias], lr=1.0, max_iter=200, line_search_fn="strong_wolfe")

    def loss_fn() -> torch.Tensor:
        optimiser.zero_grad()
        logits = x @ weights + bias
        loss = (
            torch.nn.functional.binary_cross_entropy_with_logits(logits, y, reduction="none") * sample_weight
        ).mean()
        loss = loss + settings.l2 * weights.pow(2).sum()
        loss.backward()
        return loss

    optimiser.step(loss_fn)
    with torch.no_grad():
        predicted = (x @ weights + bias) > 0
        accuracy = float((predicted == (y > 0)).float().mean())
    values = [round(float(w), 6) for w in weights.detach()]
    offset = round(float(bias.detach()), 6)
    meta = {
        "key": settings.key(),
        "weights_sha": sha256_text(json.dumps([values, offset]))[:12],
        "training_texts": len(texts),
        "body_texts": int(y.sum()),
        "training_accuracy": round(accuracy, 4),
    }
    trained = FurnitureClassifier(values, offset, meta)
    trained._model = classifier._model
    return trained


SHIPPED_WEIGHTS = Path(__file__).parent / "furniture_classifier.json"


def load_or_train(cache_dir: Path, settings: ClassifierSettings = ClassifierSettings()) -> FurnitureClassifier:
    """The classifier for `settings`: the shipped weights when they were trained with these settings,
    else the one cached under `cache_dir`, trained and cached first when missing."""
    for path in (SHIPPED_WEIGHTS, Path(cache_dir) / "furniture_classifier" / f"{settings.key()}.json"):
        if path.exists():
            classifier = FurnitureClassifier.from_json(path.read_text(encoding="utf-8"))
            if classifier.meta.get("key") == settings.key():
                return classifier
    classifier = train_classifier(settings)
    write_text_atomic(path, classifier.to_json())
    return classifier


if __name__ == "__main__":
    trained = train_classifier()
    write_text_atomic(SHIPPED_WEIGHTS, trained.to_json() + "\n")
    print(f"wrote {SHIPPED_WEIGHTS}: {trained.meta}")
