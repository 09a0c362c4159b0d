"""General English for the forgetting measure: text the base model did not write and that
has nothing to do with press releases, scored with the same sliding-window perplexity.

Source: the glosses and usage examples of Princeton WordNet 3.0 as Debian's `wordnet-base`
package installs them (`/usr/share/wordnet/data.{noun,verb,adj,adv}`; `make setup` installs
it where it can). Why WordNet: lexicographers' modern English over every domain of the
language (not the archaic prose of public-domain books), a free licence that allows
redistribution, offline from a package registry, and the same bytes on every machine.
Entries are taken at a fixed stride over the four files, so every run scores the same text.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

WORDNET_DIR = Path("/usr/share/wordnet")
PARTS_OF_SPEECH = ("noun", "verb", "adj", "adv")
ENTRIES_PER_DOCUMENT = 20  # one document = the unit the standard error resamples
DEFAULT_MAX_CHARS = 200_000
SOURCE = "Princeton WordNet 3.0 glosses (Debian package wordnet-base)"
_QUOTED = re.compile(r'"([^"]+)"')


class GeneralTextUnavailable(FileNotFoundError):
    """WordNet's data files are not installed."""


def wordnet_entries(wordnet_dir: Path = WORDNET_DIR) -> list[str]:
    """Every synset with a usage example, as one English line: `Word: definition. "Example."`,
    in file order (nouns, verbs, adjectives, adverbs)."""
    entries = []
    for part in PARTS_OF_SPEECH:
        path = Path(wordnet_dir) / f"data.{part}"
        if not path.is_file():
            raise GeneralTextUnavailable(
                f"{path} is missing: install Debian's wordnet-base (apt-get install wordnet-base) for the "
                "general-English forgetting measure"
            )
        with open(path, encoding="utf-8", errors="replace") as handle:
            for line in handle:
                if line.startswith("  ") or " | " not in line:
                    continue  # the licence header
                fields, gloss = line.split(" | ", 1)
                examples = _QUOTED.findall(gloss)
                if not examples:
                    continue
                definition = gloss.split(";")[0].strip().rstrip(".")
                word = fields.split()[4].replace("_", " ")
                word = re.sub(r"\(.*\)$", "", word)  # adjective markers such as "(a)"
                sentences = " ".join(f"{e.strip()[0].upper()}{e.strip()[1:]}." for e in examples if e.strip())
                entries.append(f"{word[0].upper()}{word[1:]}: {definition}. {sentences}")
    return entries


def general_documents(max_chars: int = DEFAULT_MAX_CHARS, wordnet_dir: Path = WORDNET_DIR) -> list[str]:
    """About `max_chars` characters of WordNet entries taken at an even stride over all of them,
    grouped `ENTRIES_PER_DOCUMENT` to a document."""
    entries = wordnet_entries(wordnet_dir)
    average = sum(map(len, entries)) / len(entries)
    stride = max(1, int(len(entries) * average / max_chars))
    chosen, total = [], 0
    for entry in entries[::stride]:
        if total + len(entry) > max_chars and chosen:
            break
        chosen.append(entry)
        total += len(entry) + 1
    return ["\n".join(chosen[i : i + ENTRIES_PER_DOCUMENT]) for i in range(0, len(chosen), ENTRIES_PER_DOCUMENT)]


def write_general_text(
    path: Path, max_chars: int = DEFAULT_MAX_CHARS, wordnet_dir: Path = WORDNET_DIR
) -> dict[str, Any]:
    """Write the general-English documents as JSONL ({"text": ...} per document) at `path`, the
    format the evaluation reads its texts in; return {"source", "documents", "chars"}."""
    documents = general_documents(max_chars, wordnet_dir)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text("".join(json.dumps({"text": d}) + "\n" for d in documents), encoding="utf-8")
    return {"source": SOURCE, "documents": len(documents), "chars": sum(map(len, documents))}
