"""The secrets the project reads from the environment, and their removal from any text that may
reach a log, an event, an error or the catalog (services echo keys back in error bodies)."""

from __future__ import annotations

import os
from collections.abc import Iterable

# Every variable holding a secret the project uses: the LLM endpoint's key and the Hub tokens.
SECRET_VARIABLES = ("OPENAI_API_KEY", "HF_TOKEN", "HUGGING_FACE_HUB_TOKEN")
REDACTED = "[redacted]"
# Shorter values are no credential, and masking them would garble unrelated text.
_MIN_SECRET_CHARS = 8


def redact(text: str, variables: Iterable[str] = ()) -> str:
    """`text` with the value of every secret variable (SECRET_VARIABLES and `variables`) masked."""
    for name in dict.fromkeys((*SECRET_VARIABLES, *variables)):
        value = os.environ.get(name, "").strip()
        if len(value) >= _MIN_SECRET_CHARS:
            text = text.replace(value, REDACTED)
    return text
