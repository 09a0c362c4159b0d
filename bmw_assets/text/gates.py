"""Deterministic gates on an article text before any LLM: is it the article's language, is it
readable text, is it more than a results table?

The press room hands out PDFs that are not the article: the release in another language, text
drawn with a font whose Unicode map is missing or wrong (the extracted characters are not the
printed ones), or a release that is only a results table. Each gate scores one of these; the
first gate (in `GATES` order) whose score is past its threshold names what is wrong:

- `table_only`: share of whitespace-separated cells that are numbers ("68", "-17", "4.5%").
- `garbled_characters`: share of characters outside `usual_characters` (control characters and
  private-use code points are what a missing Unicode map yields).
- `unrecognised_text`: the language detector's evidence: minus its log-likelihood per character
  under the best language, which grows with the n-grams the model recognises (real prose scores
  about 2.6-3.3 in every language; letters sent to the wrong letters by a broken map under 1.6).
- `wrong_language`: the detected language is not the article's language (from its id or feed);
  the score is the detected language's log-likelihood per character minus the article language's.
- `html_mismatch`: token F1 against the article's HTML body, where the body is long enough.

The detector is py3langid (langid.py's model, 97 languages, 4.5 MB installed, numpy only).
Measured on the replica's sentences (about 100 characters): English 391/400, German 407/407,
Romanian 394/400, 40-character cuts 194/200 and 200/200, 0.2 ms a sentence; lingua-language-
detector 2.1.1 was as accurate (392, 407, 400/400) but takes 96 MB and 9-38 ms a sentence in its
high-accuracy mode, and its low-accuracy mode misses 35/200 of the 40-character English cuts.
Its cost grows with the text, so it reads only the first `language_sample_chars` characters.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from bmw_assets.hashing import sha256_json
from bmw_assets.text.quality import PRF, token_prf, word_tokens

GATES = ("table_only", "garbled_characters", "unrecognised_text", "wrong_language", "html_mismatch")
DEFAULT_GATES_FILE = Path(__file__).resolve().parents[2] / "configs" / "text_gates.yaml"
# A whitespace-separated cell that is a number: "68", "-17", "+3", "4.5%", "1:23.456".
_NUMERIC_CELL = re.compile(r"(?<!\S)[+\-\u2212]?\d+(?:[.,:/]\d+)*%?(?!\S)")


class TextGateSettings(BaseModel):
    """Thresholds of the text gates; their values live in `configs/text_gates.yaml` (no defaults
    here: the file is the one place to read and change them). Shares are fractions 0..1."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool
    max_numeric_cell_share: float = Field(ge=0, le=1)
    max_unusual_character_share: float = Field(ge=0, le=1)
    usual_characters: str = Field(
        min_length=1,
        description="a regex character-class body: the characters prose in the corpus's languages uses",
    )
    min_language_evidence: float = Field(ge=0)
    max_language_evidence_gap: float = Field(
        ge=0,
        description="wrong_language: the detected language's log-likelihood per character minus the article language's",
    )
    min_html_f1: float = Field(ge=0, le=1)
    min_reference_tokens: int = Field(ge=1, description="html_mismatch needs a body of at least this many tokens")
    min_language_chars: int = Field(ge=1, description="shorter texts are not judged by the detector")
    language_sample_chars: int = Field(ge=100, description="characters the detector reads")
    max_gated_share: float = Field(
        ge=0,
        le=1,
        description="the regex_text check: share of articles "
        "whose text failed a gate, above which an extractor is likely broken",
    )

    @field_validator("usual_characters")
    @classmethod
    def _compiles(cls, value: str) -> str:
        try:
            re.compile(f"[^{value}]")
        except re.error as error:
            raise ValueError(f"{value!r} is not a regex character-class body such as '\\s!-~': {error}") from error
        return value

    def fingerprint(self) -> str:
        """Changes whenever a gate's threshold changes, so gated texts are judged again."""
        return sha256_json(self.model_dump(exclude={"max_gated_share"}))[:16]


def load_text_gate_settings(path: Path | str | None = None) -> TextGateSettings:
    """Read and validate the gate settings YAML (default `configs/text_gates.yaml`)."""
    path = Path(path) if path else DEFAULT_GATES_FILE
    try:
        return TextGateSettings.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")) or {})
    except (OSError, yaml.YAMLError, ValidationError) as error:
        raise ValueError(f"text gate settings {path}: {error}") from error


@dataclass(frozen=True)
class GateVerdict:
    """Every gate's score (None: not judged) and the first gate that failed, with why."""

    scores: dict[str, float | None]
    failed: str | None = None
    reason: str | None = None
    detected_language: str | None = None
    prf: PRF | None = field(default=None, compare=False)

    @property
    def passed(self) -> bool:
        return self.failed is None

    @property
    def score(self) -> float | None:
        """The score of the gate that failed (None when all passed)."""
        return self.scores[self.failed] if self.failed else None


@functools.lru_cache(maxsize=1)
def _identifier() -> Any:
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=False)


@functools.lru_cache(maxsize=4)
def _unusual(usual_characters: str) -> re.Pattern[str]:
    return re.compile(f"[^{usual_characters}]")


def numeric_cell_share(text: str) -> float:
    """Share of whitespace-separated cells of `text` that are numbers (0 for no cells)."""
    cells = len(text.split())
    return len(_NUMERIC_CELL.findall(text)) / cells if cells else 0.0


def unusual_character_share(text: str, usual_characters: str) -> float:
    """Share of the characters of `text` outside the character class `usual_characters`."""
    return len(_unusual(usual_characters).findall(text)) / len(text) if text else 0.0


def language_log_likelihoods(text: str) -> dict[str, float]:
    """The detector's log-likelihood of `text` per character under each of its 97 languages (ISO
    639-1 codes). The best language has the highest; each n-gram the model knows adds a negative
    term, so the best one's magnitude grows with how much of the text the model recognises."""
    return {language: float(score) / max(1, len(text)) for language, score in _identifier().rank(text)}


def evaluate_gates(text: str, language: str | None, reference: str | None, settings: TextGateSettings) -> GateVerdict:
    """Judge `text` (a cleaned article text) for an article in `language` (e.g. "en", "de", "EN_US";
    None: not judged), with `reference` its HTML body (None when there is none or `text` is it)."""
    prf = None
    if reference is not None and len(word_tokens(reference)) >= settings.min_reference_tokens:
        prf = token_prf(text, reference)
    scores: dict[str, float | None] = dict.fromkeys(GATES)
    scores["table_only"] = numeric_cell_share(text)
    scores["garbled_characters"] = unusual_character_share(text, settings.usual_characters)
    detected, expected = None, (language or "")[:2].lower()
    if len(text) >= settings.min_language_chars:
        sample = text[: settings.language_sample_chars]
        detected, best = _identifier().classify(sample)
        scores["unrecognised_text"] = -float(best) / len(sample)
        if detected == expected:
            scores["wrong_language"] = 0.0
        elif expected:  # how much likelier the detected language is than the article's (ranking all: rare)
            log_likelihood = language_log_likelihoods(sample)
            if expected in log_likelihood:
                scores["wrong_language"] = log_likelihood[detected] - log_likelihood[expected]
    scores["html_mismatch"] = prf.f1 if prf else None
    failures = {
        "table_only": (
            scores["table_only"] > settings.max_numeric_cell_share,
            f"{scores['table_only']:.0%} of cells are numbers (max {settings.max_numeric_cell_share:.0%})",
        ),
        "garbled_characters": (
            scores["garbled_characters"] > settings.max_unusual_character_share,
            f"{scores['garbled_characters']:.1%} of characters are unusual "
            f"(max {settings.max_unusual_character_share:.1%})",
        ),
        "unrecognised_text": (
            scores["unrecognised_text"] is not None and scores["unrecognised_text"] < settings.min_language_evidence,
            f"language evidence {scores['unrecognised_text'] or 0:.2f} per character "
            f"(min {settings.min_language_evidence:.2f})",
        ),
        "wrong_language": (
            scores["wrong_language"] is not None and scores["wrong_language"] > settings.max_language_evidence_gap,
            f"detected language {detected!r}, article {expected!r} "
            f"(evidence gap {scores['wrong_language'] or 0:.3f} per character, "
            f"max {settings.max_language_evidence_gap:.3f})",
        ),
        "html_mismatch": (
            scores["html_mismatch"] is not None and scores["html_mismatch"] < settings.min_html_f1,
            f"token F1 {scores['html_mismatch'] or 0:.3f} against the HTML body (min {settings.min_html_f1:.2f})",
        ),
    }
    for gate in GATES:
        failed, why = failures[gate]
        if failed:
            return GateVerdict(scores, gate, f"{gate}: {why}", detected, prf)
    return GateVerdict(scores, None, None, detected, prf)
