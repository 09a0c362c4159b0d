"""The clean article body: paragraphs of the press release only, joined by a blank line.

The same rules apply to the rss2 `<description>` and to the detail page's
`#article-text`: consumption (CO2) blocks, the press-contact block and the
standard "about the company" paragraph are not body text. This body is the
ground truth against which PDF cleaning is scored, so it must stay clean.
"""

from __future__ import annotations

import hashlib
import re

import lxml.html
import trafilatura

# Containers inside the article text that are not body text (class or id tokens).
_NON_BODY_CONTAINER = re.compile(r"co2|consumption|contact|about|author|disclaimer|download|social", re.IGNORECASE)
# Paragraphs that start the trailing press-contact / company blocks: the body ends before them.
_BODY_END = re.compile(
    r"^(in case of (any )?(queries|questions)|if you have any (further )?questions|press contacts?|media contacts?"
    r"|contacts?[.:]|contact person|for (further )?(questions|information)|please contact|further information:?$"
    r"|in the event of (any )?(enquiries|queries|questions)|bitte wenden sie sich|co2 emission information"
    r"|(about )?the bmw group:?$|die bmw group:?$|the bmw group,? with its (four )?brands|with its four brands bmw"
    r"|mit ihren vier marken bmw|the bmw group is the world's leading (premium|provider)"
    r"|the (economic )?success of the bmw group has always)",
    re.IGNORECASE,
)
# A bold "The BMW Group" heading opens the standard company profile.
_PROFILE_HEADING = re.compile(r"^(about )?(the|die) bmw group:?$", re.IGNORECASE)
_WHITESPACE = re.compile(r"\s+")
_BREAK = "\ue000"  # private-use character: never in page text


def normalise_paragraph(text: str) -> str:
    """Collapse &nbsp;, hard line breaks and runs of whitespace into single spaces."""
    return _WHITESPACE.sub(" ", text.replace("\u00a0", " ").replace("\u202f", " ")).strip()


def _paragraph_texts(p: lxml.html.HtmlElement) -> list[str]:
    """One `p` as paragraphs: `<br><br>` separates two paragraphs, a single `<br>` reads as a space."""
    for br in p.iter("br"):
        following = br.getnext()
        pair = following is not None and following.tag == "br" and not (br.tail or "").strip()
        br.tail = _BREAK if pair else " " + (br.tail or "")
    return [text for part in p.text_content().split(_BREAK) if (text := normalise_paragraph(part))]


def _in_non_body_container(element: lxml.html.HtmlElement, stop_at: lxml.html.HtmlElement) -> bool:
    for ancestor in element.iterancestors():
        if ancestor is stop_at:
            return False
        marker = f"{ancestor.get('class', '')} {ancestor.get('id', '')}"
        if _NON_BODY_CONTAINER.search(marker):
            return True
    return False


def _opens_profile(p: lxml.html.HtmlElement) -> bool:
    first = next(iter(p), None)
    return (
        first is not None
        and first.tag in ("strong", "b")
        and not (p.text or "").strip()
        and bool(_PROFILE_HEADING.match(normalise_paragraph(first.text_content())))
    )


def body_paragraphs(container: lxml.html.HtmlElement) -> list[str]:
    """The body paragraphs under `container`, in order, up to the press-contact / company block.

    Paragraphs inside CO2/consumption, contact or similar containers are skipped.
    """
    paragraphs: list[str] = []
    for p in container.iter("p"):
        if _in_non_body_container(p, container) or _NON_BODY_CONTAINER.search(
            f"{p.get('class', '')} {p.get('id', '')}"
        ):
            continue
        if _opens_profile(p):
            break
        texts = _paragraph_texts(p)
        if texts and _BODY_END.match(texts[0]):
            break
        paragraphs.extend(texts)
    return paragraphs


def body_text_from_fragment(html: str) -> str:
    """Body text ("\\n\\n"-joined paragraphs) of an HTML fragment such as an rss2 description; "" if none."""
    if not html or not html.strip():
        return ""
    container = lxml.html.fragment_fromstring(html, create_parent="div")
    return "\n\n".join(body_paragraphs(container))


def body_text_by_trafilatura(html: str) -> str:
    """Fallback extractor for pages without `#article-text`: trafilatura's main text, same end rules."""
    extracted = trafilatura.extract(html, include_comments=False, include_tables=False, favor_precision=True) or ""
    paragraphs: list[str] = []
    for line in extracted.splitlines():
        text = normalise_paragraph(line)
        if not text:
            continue
        if _BODY_END.match(text):
            break
        paragraphs.append(text)
    return "\n\n".join(paragraphs)


def body_sha256(body_text: str) -> str:
    """Hex sha256 of the UTF-8 body text: the change detector for incremental runs."""
    return hashlib.sha256(body_text.encode("utf-8")).hexdigest()
