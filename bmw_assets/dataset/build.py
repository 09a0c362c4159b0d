"""Build a versioned ChatML dataset from clean articles.

Rows are grouped by article and split by article (near duplicates together),
chunked to fit `max_length`, rendered with the tokenizer's chat template and
written as `<datasets_dir>/<version>/{train,validation,test}.jsonl` plus
`manifest.json`. The version is a sha256 over the split files and the settings,
so the same input builds the same version and an existing version is not rewritten.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from bmw_assets.dataset.article import DatasetArticle
from bmw_assets.dataset.chunking import chunk_text
from bmw_assets.dataset.dedup import group_duplicates
from bmw_assets.dataset.manifest import DatasetManifest, load_manifest, token_histogram
from bmw_assets.dataset.rendering import count_tokens, render_chat, render_plain
from bmw_assets.dataset.settings import SPLITS, DatasetSettings
from bmw_assets.dataset.splits import assign_splits
from bmw_assets.dataset.styles import ExampleSpec, example_specs

Progress = Callable[[str], None] | None


def build_dataset(
    articles: Sequence[DatasetArticle],
    tokenizer: Any,
    settings: DatasetSettings,
    datasets_dir: Path,
    progress: Progress = None,
) -> DatasetManifest:
    """Build (or find) the dataset version of `articles` under `datasets_dir`.

    `tokenizer` is a transformers tokenizer with a chat template (renders rows and
    counts their tokens). Returns the manifest of `<datasets_dir>/<version>/`.
    Raises ValueError for duplicate article ids or a `max_length` that cannot hold
    a single word with its prompt.
    """
    say = progress or (lambda message: None)
    ordered = sorted(articles, key=lambda a: (a.published_at, a.article_id))
    groups = group_duplicates(
        ordered, settings.near_duplicate_threshold, settings.shingle_words, settings.minhash_permutations
    )
    duplicate_groups = [g for g in groups if len(g) > 1]
    say(f"{len(ordered)} articles in {len(groups)} groups ({len(duplicate_groups)} of near duplicates)")
    article_splits = assign_splits(groups, {a.article_id: a.published_at for a in ordered}, settings)

    rows: dict[str, list[dict[str, Any]]] = {split: [] for split in SPLITS}
    chunked_by_style = {style: 0 for style in settings.styles}
    chunked_ids: set[str] = set()
    facts_skipped = 0
    for number, article in enumerate(ordered, start=1):
        specs, skipped = example_specs(article, settings.styles)
        facts_skipped += skipped
        chunked_styles = set()
        for spec in specs:
            example_rows = _example_rows(article, spec, tokenizer, settings)
            if len(example_rows) > 1:
                chunked_styles.add(spec.style)
            rows[article_splits[article.article_id]].extend(example_rows)
        for style in chunked_styles:
            chunked_by_style[style] += 1
        if chunked_styles:
            chunked_ids.add(article.article_id)
        if number % 50 == 0 or number == len(ordered):
            say(f"rendered {number}/{len(ordered)} articles")

    files = {split: "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows[split]) for split in SPLITS}
    version = dataset_version(files, settings)
    target = Path(datasets_dir) / version
    if (target / "manifest.json").is_file():
        say(f"dataset {version} already exists at {target}; not rewritten")
        return load_manifest(target)

    manifest = DatasetManifest(
        version=version,
        path=str(target),
        rows={s: _per_style(rows[s], settings.styles, lambda r: 1) for s in SPLITS},
        tokens={s: _per_style(rows[s], settings.styles, lambda r: r["tokens"]) for s in SPLITS},
        articles={s: sum(1 for v in article_splits.values() if v == s) for s in SPLITS},
        chunked_articles=len(chunked_ids),
        chunked_by_style=chunked_by_style,
        facts_skipped=facts_skipped,
        duplicate_groups=duplicate_groups,
        article_splits=dict(sorted(article_splits.items())),
        token_histogram=token_histogram({s: [r["tokens"] for r in rows[s]] for s in SPLITS}, settings.max_length),
        settings=settings.to_dict(),
    )
    _write_version(target, files, manifest)
    say(f"wrote dataset {version}: " + ", ".join(f"{s} {sum(manifest.rows[s].values())} rows" for s in SPLITS))
    return manifest


def dataset_version(files: dict[str, str], settings: DatasetSettings) -> str:
    """sha256 (hex) over the split files' contents, in split order, and the settings."""
    digest = hashlib.sha256()
    for split in SPLITS:
        digest.update(f"{split}\0".encode())
        digest.update(files[split].encode("utf-8"))
        digest.update(b"\0")
    digest.update(json.dumps(settings.to_dict(), sort_keys=True).encode())
    return digest.hexdigest()


def load_split(path: Path) -> list[dict[str, Any]]:
    """The rows of one split file (JSONL), in file order."""
    with open(path, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def _example_rows(
    article: DatasetArticle, spec: ExampleSpec, tokenizer: Any, settings: DatasetSettings
) -> list[dict[str, Any]]:
    thinking = spec.style in settings.thinking_styles

    def render(content: str, continued: bool) -> tuple[list[dict[str, str]], str]:
        if spec.prompt is None:
            return [{"role": "assistant", "content": content}], render_plain(tokenizer, content)
        messages = [
            {"role": "system", "content": settings.system_prompt},
            {"role": "user", "content": spec.continued_prompt if continued else spec.prompt},
            {"role": "assistant", "content": content},
        ]
        return messages, render_chat(tokenizer, messages, thinking)

    def fits(content: str, continued: bool) -> bool:
        return count_tokens(tokenizer, render(content, continued)[1]) <= settings.max_length

    example_rows = []
    for index, (start, end) in enumerate(chunk_text(article.text, spec.span, fits)):
        messages, text = render(article.text[start:end], index > 0)
        example_rows.append(
            {
                "messages": messages,
                "text": text,
                "style": spec.style,
                "article_id": article.article_id,
                "chunk": index,
                "tokens": count_tokens(tokenizer, text),
            }
        )
    return example_rows


def _per_style(rows: list[dict[str, Any]], styles: tuple[str, ...], value: Callable[[dict], int]) -> dict[str, int]:
    totals = {style: 0 for style in styles}
    for row in rows:
        totals[row["style"]] += value(row)
    return totals


def _write_version(target: Path, files: dict[str, str], manifest: DatasetManifest) -> None:
    """Write the version folder under a temp name, then rename it into place in one step."""
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name[:12]}-", dir=target.parent))
    try:
        for split, content in files.items():
            (staging / f"{split}.jsonl").write_text(content, encoding="utf-8")
        (staging / "manifest.json").write_text(json.dumps(manifest.to_dict(), indent=2) + "\n", encoding="utf-8")
        try:
            os.rename(staging, target)
        except OSError:
            # Another build of the same version won the race; its files are identical.
            if not (target / "manifest.json").is_file():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
