"""Checks of built rows for the blocking asset checks before training.

Each is a pure function returning (passed, details); details is JSON-ready:
counts plus up to `_EXAMPLES` offending rows named by article id, style and chunk.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from bmw_assets.dataset.settings import STYLES

_EXAMPLES = 5
_ROLES = ("system", "user", "assistant")
_REQUIRED = {"messages": list, "text": str, "style": str, "article_id": str, "chunk": int, "tokens": int}

Result = tuple[bool, dict[str, Any]]


def _where(row: Mapping[str, Any]) -> str:
    return f"{row.get('article_id')}/{row.get('style')}/{row.get('chunk')}"


def _result(rows_checked: int, problems: list[str]) -> Result:
    return not problems, {"rows_checked": rows_checked, "failures": len(problems), "examples": problems[:_EXAMPLES]}


def schema_problem(row: Mapping[str, Any]) -> str | None:
    """Why `row` breaks the row format (fields, roles, non-empty content, turn order), or None."""
    for field, kind in _REQUIRED.items():
        if not isinstance(row.get(field), kind):
            return f"field {field!r} missing or not {kind.__name__}"
    if row["style"] not in STYLES:
        return f"style {row['style']!r} is not one of {list(STYLES)}"
    messages = row["messages"]
    if not messages:
        return "messages is empty"
    for message in messages:
        if not isinstance(message, Mapping) or message.get("role") not in _ROLES:
            return f"message {message!r} has no role among {list(_ROLES)}"
        if not isinstance(message.get("content"), str) or not message["content"].strip():
            return f"a {message['role']} message has empty content"
    roles = [m["role"] for m in messages]
    if row["style"] == "article":
        return None if roles == ["assistant"] else f"article rows hold one assistant message, got {roles}"
    turns = roles[1:] if roles[0] == "system" else roles
    expected = ["user", "assistant"] * (len(turns) // 2)
    if not turns or turns != expected:
        return f"roles {roles} do not alternate user/assistant after an optional system message"
    return None


def check_schema(rows: Iterable[Mapping[str, Any]]) -> Result:
    """Every row has the contract's fields, known roles, non-empty contents and alternating turns."""
    rows = list(rows)
    problems = [f"{_where(r)}: {p}" for r in rows if (p := schema_problem(r))]
    return _result(len(rows), problems)


def check_assistant_turns(rows: Iterable[Mapping[str, Any]]) -> Result:
    """Every row has at least one assistant turn and none of them is empty."""
    rows = list(rows)
    problems = []
    for row in rows:
        answers = [m.get("content") for m in row.get("messages", []) if m.get("role") == "assistant"]
        if not answers:
            problems.append(f"{_where(row)}: no assistant turn")
        elif any(not isinstance(a, str) or not a.strip() for a in answers):
            problems.append(f"{_where(row)}: empty assistant turn")
    return _result(len(rows), problems)


def check_no_leakage(splits: Mapping[str, Sequence[Mapping[str, Any]]]) -> Result:
    """No article id has rows in more than one split (`splits` maps split name -> rows)."""
    seen: dict[str, set[str]] = {}
    for split, rows in splits.items():
        for row in rows:
            seen.setdefault(row["article_id"], set()).add(split)
    problems = [f"{aid}: in {sorted(found)}" for aid, found in sorted(seen.items()) if len(found) > 1]
    passed, details = _result(sum(len(r) for r in splits.values()), problems)
    details["articles"] = len(seen)
    return passed, details


def check_max_length(rows: Iterable[Mapping[str, Any]], max_length: int, tokenizer: Any | None = None) -> Result:
    """No row is longer than `max_length` tokens.

    With `tokenizer` the rendered "text" is re-tokenised (the truth); without it the
    row's recorded "tokens" is trusted.
    """
    rows = list(rows)
    problems = []
    longest = 0
    for row in rows:
        length = len(tokenizer(row["text"], add_special_tokens=False)["input_ids"]) if tokenizer else int(row["tokens"])
        longest = max(longest, length)
        if length > max_length:
            problems.append(f"{_where(row)}: {length} tokens > {max_length}")
    passed, details = _result(len(rows), problems)
    details["longest_tokens"] = longest
    return passed, details
