"""`filter_texts`: the delete-only LLM cleaning of many articles, behind `llm_text`.

Per article: split into paragraphs, look the text up in the decision cache, ask the
endpoint about uncached texts chunk by chunk (requests run concurrently), apply the
decision rule, and assemble the output from the kept input paragraphs only. An article
whose requests fail or answer nonsense keeps its input text (status "fallback") and
nothing is cached for it, so the next run asks again. An endpoint refusing the settings
themselves (wrong key, unknown model) stops the run with EndpointConfigurationError.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import openai

from bmw_assets.hashing import sha256_text as text_sha256
from bmw_assets.llm_filter.cache import read_decisions, write_decisions
from bmw_assets.llm_filter.classifier import CLASSIFIER_VERSION, FurnitureClassifier
from bmw_assets.llm_filter.decision import (
    ArticleDecision,
    FilterSettings,
    ModelAnswers,
    answers_from_json,
    decide,
    decision_json,
)
from bmw_assets.llm_filter.endpoint import EndpointSettings
from bmw_assets.llm_filter.judge import (
    CONFIGURATION_ERRORS,
    ChunkAnswer,
    MalformedAnswer,
    configuration_error,
    judge_chunk,
)
from bmw_assets.llm_filter.paragraphs import (
    chunk_paragraphs,
    join_paragraphs,
    split_paragraphs,
)
from bmw_assets.llm_filter.prompt import load_prompt


@dataclass(frozen=True)
class FilterInput:
    """One article's regex-cleaned text (paragraphs separated by blank lines)."""

    article_id: str
    text: str


@dataclass(frozen=True)
class FilterResult:
    """The filtered text of one article.

    `status`: "ok" (text = kept paragraphs), "rejected" (text = "", `reason` says why) or
    "fallback" (text = the input unchanged, `reason` says what failed). `kept`/`dropped`
    are paragraph indices of the input; `cached` is True when no request was needed.
    """

    article_id: str
    text: str
    status: Literal["ok", "fallback", "rejected"]
    kept: tuple[int, ...]
    dropped: tuple[int, ...]
    reason: str | None
    cached: bool


@dataclass(frozen=True)
class FilterRun:
    """Results in input order; `requests` sent to the endpoint (one per chunk, retries
    not counted), `cache_hits` (articles answered from the catalog), `fallbacks`,
    `tokens` the endpoint reported, and wall `seconds`."""

    results: list[FilterResult]
    requests: int
    cache_hits: int
    fallbacks: int
    tokens: int
    seconds: float


Judge = EndpointSettings | FurnitureClassifier
"""What judges the paragraphs: an OpenAI-compatible LLM endpoint, or the local embedding classifier."""


def judge_identity(judge: Judge, settings: FilterSettings) -> tuple[str, str]:
    """(model, version) of `judge` under `settings`: the decision cache's key besides the text hash."""
    if isinstance(judge, FurnitureClassifier):
        return judge.model_id, settings.cache_version(CLASSIFIER_VERSION)
    return judge.model, settings.cache_version(load_prompt(settings.prompt_path).version)


def filter_texts(
    items: Sequence[FilterInput],
    judge: Judge,
    catalog_path: Path,
    settings: FilterSettings = FilterSettings(),
    progress: Callable[[str], None] | None = None,
) -> FilterRun:
    """Filter `items` with `judge` (the LLM at an endpoint, or the classifier), caching decisions in
    the catalog at `catalog_path`.

    Raises EndpointConfigurationError when the endpoint refuses the key or the model (401, 403, 404)."""
    started = time.monotonic()
    paragraphs = {item.article_id: split_paragraphs(item.text) for item in items}
    hashes = {item.article_id: text_sha256(item.text) for item in items}
    texts_by_hash = {hashes[item.article_id]: paragraphs[item.article_id] for item in items}
    to_judge = {sha for sha, paras in texts_by_hash.items() if paras}

    model, version = judge_identity(judge, settings)
    cached = {
        sha: answers_from_json(document)
        for sha, document in read_decisions(catalog_path, to_judge, model, version).items()
    }
    misses = sorted(to_judge - cached.keys())
    judged = {sha: settings.judged(texts_by_hash[sha]) for sha in misses}
    if isinstance(judge, FurnitureClassifier):
        _report(progress, f"llm_filter: {len(items)} articles, {len(cached)} cached, {len(misses)} to classify")
        fresh = judge.answer_all({sha: texts_by_hash[sha] for sha in misses}, judged)
        failures: dict[str, str] = {}
        requests = tokens = 0
    else:
        fresh, failures, requests, tokens = _ask_endpoint(judge, texts_by_hash, misses, judged, settings, progress)
    write_decisions(
        catalog_path,
        {
            sha: decision_json(answers, decide(answers, settings), settings.keep_threshold)
            for sha, answers in fresh.items()
        },
        model,
        version,
    )

    results = []
    for item in items:
        sha, paras = hashes[item.article_id], paragraphs[item.article_id]
        if not paras:
            results.append(FilterResult(item.article_id, "", "rejected", (), (), "empty: no paragraphs", False))
        elif sha in failures:
            results.append(FilterResult(item.article_id, item.text, "fallback", (), (), failures[sha], False))
        else:
            answers = cached.get(sha) or fresh[sha]
            results.append(_result(item.article_id, paras, decide(answers, settings), cached=sha in cached))
    fallbacks = sum(result.status == "fallback" for result in results)
    run = FilterRun(
        results=results,
        requests=requests,
        cache_hits=sum(result.cached for result in results),
        fallbacks=fallbacks,
        tokens=tokens,
        seconds=time.monotonic() - started,
    )
    _report(progress, f"llm_filter: done in {run.seconds:.1f} s, {run.requests} requests, {fallbacks} fallbacks")
    return run


def _ask_endpoint(
    endpoint: EndpointSettings,
    texts_by_hash: dict[str, list[str]],
    misses: list[str],
    judged: dict[str, list[int]],
    settings: FilterSettings,
    progress: Callable[[str], None] | None,
) -> tuple[dict[str, ModelAnswers], dict[str, str], int, int]:
    """Ask the LLM at `endpoint` about the `judged` paragraphs of each text in `misses`, chunk by chunk
    and concurrently: (answers by text hash, failure reasons by text hash, requests, tokens)."""
    prompt = load_prompt(settings.prompt_path)
    jobs = [
        (sha, [judged[sha][i] for i in chunk])
        for sha in misses
        for chunk in chunk_paragraphs(
            [texts_by_hash[sha][i] for i in judged[sha]], settings.max_chunk_chars, settings.max_chunk_paragraphs
        )
    ]
    _report(progress, f"llm_filter: {len(misses)} texts to judge, {len(jobs)} requests to send")

    answered: dict[str, dict[int, tuple[list[int], ChunkAnswer]]] = {sha: {} for sha in misses}
    failures: dict[str, str] = {}
    tokens = 0
    if jobs:
        client = endpoint.client()
        with ThreadPoolExecutor(max_workers=endpoint.concurrency, thread_name_prefix="llm-filter") as pool:
            futures = {
                pool.submit(judge_chunk, client, endpoint, prompt, [texts_by_hash[sha][i] for i in indices]): (
                    sha,
                    indices,
                )
                for sha, indices in jobs
            }
            for done, future in enumerate(as_completed(futures), start=1):
                sha, indices = futures[future]
                try:
                    answer = future.result()
                except CONFIGURATION_ERRORS as error:
                    for queued in futures:  # every other request would be refused the same way
                        queued.cancel()
                    raise configuration_error(endpoint, error) from None  # the cause may echo the key
                except (openai.APIError, MalformedAnswer, ValueError) as error:
                    failures.setdefault(sha, endpoint.redact(f"{type(error).__name__}: {error}"))
                else:
                    answered[sha][indices[0]] = (indices, answer)
                    tokens += answer.tokens
                if done % max(1, len(jobs) // 20) == 0 or done == len(jobs):
                    _report(progress, f"llm_filter: {done}/{len(jobs)} requests answered, {len(failures)} texts failed")

    fresh = {sha: _merge(len(texts_by_hash[sha]), chunks) for sha, chunks in answered.items() if sha not in failures}
    return fresh, failures, len(jobs), tokens


def _merge(paragraph_count: int, chunks: dict[int, tuple[list[int], ChunkAnswer]]) -> ModelAnswers:
    """One article's answers from its chunk answers (keyed by first paragraph index);
    paragraphs nobody was asked about are kept (probability 1)."""
    keep = [1.0] * paragraph_count
    ordered = [chunks[start] for start in sorted(chunks)]
    for indices, answer in ordered:
        for index, probability in zip(indices, answer.keep_probability, strict=True):
            keep[index] = probability
    return ModelAnswers(tuple(keep), tuple(answer.rejection for _, answer in ordered))


def _result(article_id: str, paragraphs: list[str], decision: ArticleDecision, cached: bool) -> FilterResult:
    if decision.rejected:
        return FilterResult(article_id, "", "rejected", decision.kept, decision.dropped, decision.reason, cached)
    text = join_paragraphs([paragraphs[i] for i in decision.kept])
    return FilterResult(article_id, text, "ok", decision.kept, decision.dropped, None, cached)


def _report(progress: Callable[[str], None] | None, message: str) -> None:
    if progress is not None:
        progress(message)
