"""Group exact and near-duplicate articles so a group never straddles two splits.

Near duplicates are found with MinHash over word shingles and datasketch's
MinHashLSH; LSH candidates are confirmed with the estimated Jaccard similarity
before they are joined, and groups are the connected components.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence

from datasketch import MinHash, MinHashLSH

from bmw_assets.dataset.article import DatasetArticle

_WORD = re.compile(r"\w+")


def word_shingles(text: str, size: int) -> set[str]:
    """The set of `size`-word shingles of `text` (lower-cased words); a shorter text is one shingle."""
    words = _WORD.findall(text.lower())
    if len(words) <= size:
        return {" ".join(words)}
    return {" ".join(words[i : i + size]) for i in range(len(words) - size + 1)}


def group_duplicates(
    articles: Sequence[DatasetArticle], threshold: float, shingle_words: int, permutations: int
) -> list[list[str]]:
    """Partition article ids into groups of exact or near duplicates (Jaccard >= `threshold`).

    Returns every article in exactly one group; groups and their members are sorted by id.
    """
    parent = {a.article_id: a.article_id for a in articles}

    def find(x: str) -> str:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    def union(a: str, b: str) -> None:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)

    # Exact duplicates first: normalised word sequences with the same hash.
    by_digest: dict[str, str] = {}
    for article in articles:
        digest = hashlib.sha256(" ".join(_WORD.findall(article.text.lower())).encode()).hexdigest()
        if digest in by_digest:
            union(by_digest[digest], article.article_id)
        else:
            by_digest[digest] = article.article_id

    lsh = MinHashLSH(threshold=threshold, num_perm=permutations)
    signatures: dict[str, MinHash] = {}
    for article in articles:
        signature = MinHash(num_perm=permutations, seed=1)
        signature.update_batch([s.encode() for s in sorted(word_shingles(article.text, shingle_words))])
        signatures[article.article_id] = signature
        if article.article_id in lsh:
            raise ValueError(f"article id {article.article_id!r} occurs twice; ids must be unique")
        lsh.insert(article.article_id, signature)
    for article_id, signature in signatures.items():
        for candidate in lsh.query(signature):
            if candidate != article_id and signature.jaccard(signatures[candidate]) >= threshold:
                union(article_id, candidate)

    groups: dict[str, list[str]] = {}
    for article_id in parent:
        groups.setdefault(find(article_id), []).append(article_id)
    return sorted(sorted(members) for members in groups.values())
