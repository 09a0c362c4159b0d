"""The versioned filter prompt: a Markdown file with YAML frontmatter (`version`)
and one `## name` section per message part.

The version is part of the decision cache key, so editing a prompt means giving
it a new file and version (filter_v2.md, ...): cached answers of the old prompt
are then never reused for the new one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import yaml

PROMPTS_DIR = Path(__file__).parent / "prompts"
DEFAULT_PROMPT = PROMPTS_DIR / "filter_v1.md"
_SECTIONS = ("state", "paragraph_question", "chat_system", "chat_user")
_FRONTMATTER = re.compile(r"\A---\n(.*?)\n---\n(.*)\Z", re.DOTALL)
_HEADING = re.compile(r"^## (\w+)\s*$", re.MULTILINE)


@dataclass(frozen=True)
class FilterPrompt:
    """The texts of one prompt version; placeholders are `{paragraph}` and `{numbered_paragraphs}`."""

    version: str
    state: str
    paragraph_question: str
    chat_system: str
    chat_user: str

    def question_for(self, paragraph: str) -> str:
        """The yes/no question about one paragraph (the paragraph is inserted verbatim)."""
        return self.paragraph_question.replace("{paragraph}", paragraph)

    def chat_user_for(self, paragraphs: list[str]) -> str:
        """The user message listing `paragraphs` as `[i] text`, i counted from 0 within the chunk."""
        numbered = "\n\n".join(f"[{i}] {text}" for i, text in enumerate(paragraphs))
        return self.chat_user.replace("{numbered_paragraphs}", numbered)


def load_prompt(path: Path = DEFAULT_PROMPT) -> FilterPrompt:
    """Read a prompt file; raise ValueError naming the file and the missing frontmatter or section."""
    raw = Path(path).read_text(encoding="utf-8")
    match = _FRONTMATTER.match(raw)
    if match is None:
        raise ValueError(f"{path} must start with YAML frontmatter between '---' lines holding `version`")
    meta = yaml.safe_load(match.group(1)) or {}
    version = meta.get("version")
    if not isinstance(version, str) or not version:
        raise ValueError(f"{path}: frontmatter needs a non-empty string `version`, got {version!r}")
    parts = _HEADING.split(match.group(2))
    sections = {name: body.strip() for name, body in zip(parts[1::2], parts[2::2], strict=True)}
    missing = [name for name in _SECTIONS if not sections.get(name)]
    if missing:
        raise ValueError(f"{path}: missing sections {missing}; a prompt needs '## ' sections {list(_SECTIONS)}")
    return FilterPrompt(version=version, **{name: sections[name] for name in _SECTIONS})
