"""The retrieval baseline: the base model answering the fact questions with the most similar
passages of the training articles in its prompt (sentence-transformers embeddings, cosine
similarity). It answers "is fine-tuning worth it against retrieval?" in the comparison."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from bmw_assets.dataset.chunking import paragraph_spans, sentence_spans

RAG_VARIANT = "base+rag"
PROMPT = (
    "Answer the question with the facts in these excerpts from BMW Group press releases.\n\n"
    "{passages}\n\nQuestion: {question}"
)


def article_texts(split_path: Path) -> list[str]:
    """The article texts of a dataset split file: each article once (its `article` rows, else its
    `instruct` answers), chunks of one article joined in order."""
    by_style: dict[str, dict[str, dict[int, str]]] = {"article": {}, "instruct": {}}
    with open(split_path, encoding="utf-8") as handle:
        for line in filter(str.strip, handle):
            row = json.loads(line)
            if row.get("style") in by_style:
                by_style[row["style"]].setdefault(row["article_id"], {})[int(row.get("chunk", 0))] = row["messages"][
                    -1
                ]["content"]
    texts = by_style["instruct"] | by_style["article"]
    return [" ".join(parts[k] for k in sorted(parts)) for _, parts in sorted(texts.items())]


def passages(texts: Sequence[str], max_words: int) -> list[str]:
    """Whole sentences of each text packed into passages of at most `max_words` words (a longer
    sentence is a passage of its own); passages never cross texts."""
    packed = []
    for text in texts:
        current: list[str] = []
        for paragraph in paragraph_spans(text):
            for start, end in sentence_spans(text, paragraph):
                sentence = " ".join(text[start:end].split())
                if current and len(" ".join(current + [sentence]).split()) > max_words:
                    packed.append(" ".join(current))
                    current = []
                current.append(sentence)
        if current:
            packed.append(" ".join(current))
    return packed


@dataclass
class PassageIndex:
    """Passages and their unit-length embeddings; `top_k` ranks them by cosine similarity."""

    passages: list[str]
    embeddings: torch.Tensor
    encoder: object  # a sentence_transformers.SentenceTransformer

    @classmethod
    def build(cls, passage_texts: list[str], encoder, batch_size: int = 64) -> PassageIndex:
        if not passage_texts:
            raise ValueError("the retrieval corpus has no passages: the dataset's train split holds no article text")
        embeddings = encoder.encode(passage_texts, batch_size=batch_size, convert_to_tensor=True,
                                    normalize_embeddings=True)  # fmt: skip
        return cls(passage_texts, embeddings, encoder)

    def top_k(self, questions: Sequence[str], k: int) -> list[list[str]]:
        """The `k` passages most similar to each question, best first."""
        asked = self.encoder.encode(list(questions), convert_to_tensor=True, normalize_embeddings=True)
        scores = asked @ self.embeddings.T
        best = scores.topk(min(k, len(self.passages)), dim=1).indices.tolist()
        return [[self.passages[i] for i in row] for row in best]


def rag_questions(questions: Sequence[str], retrieved: Sequence[Sequence[str]]) -> list[str]:
    """Each question with its retrieved passages, as the user turn the model answers."""
    return [
        PROMPT.format(passages="\n\n".join(f"[{i}] {p}" for i, p in enumerate(found, start=1)), question=q)
        for q, found in zip(questions, retrieved, strict=True)
    ]
