"""Clinical note attachments (HTML, RTF, plain text) to clean text, with maintained converters."""
from __future__ import annotations

import re

from inscriptis import get_text
from inscriptis.model.config import ParserConfig
from striprtf.striprtf import rtf_to_text

# Most to least faithful to what the author wrote; Epic sends HTML and RTF of the same note.
PREFERRED_TYPES = ("text/html", "text/plain", "text/rtf", "application/rtf")
_HTML_CONFIG = ParserConfig(display_links=False, display_images=False)
_BLANKS = re.compile(r"[ \t\u00a0]+")
_MANY_NEWLINES = re.compile(r"\n{3,}")


class UnsupportedNote(ValueError):
    """The attachment's content type cannot be turned into text."""


def base_type(content_type: str | None) -> str:
    """``text/html; charset=utf-8`` → ``text/html``."""
    return (content_type or "").split(";")[0].strip().lower()


def charset(content_type: str | None) -> str:
    """The charset parameter of a content type, UTF-8 when absent."""
    match = re.search(r"charset=([\w.-]+)", content_type or "", re.I)
    return match.group(1) if match else "utf-8"


def pick_attachment(attachments: list[dict]) -> dict | None:
    """Choose the attachment to read: HTML, then plain, then RTF; None when none is text."""
    by_type = {base_type(a.get("contentType")): a for a in attachments}
    for wanted in PREFERRED_TYPES:
        if wanted in by_type:
            return by_type[wanted]
    return None


def to_text(content_type: str | None, data: bytes) -> str:
    """Decode and convert a note to clean plain text (whitespace normalised, paragraphs kept)."""
    kind = base_type(content_type)
    try:
        raw = data.decode(charset(content_type))
    except (LookupError, UnicodeDecodeError):
        raw = data.decode("utf-8", errors="replace")
    if kind == "text/html":
        text = get_text(raw, _HTML_CONFIG)
    elif kind in ("text/rtf", "application/rtf"):
        text = rtf_to_text(raw, errors="ignore")
    elif kind == "text/plain" or kind == "":
        text = raw
    else:
        raise UnsupportedNote(f"notes of type {kind} cannot be read as text")
    return clean(text)


def clean(text: str) -> str:
    """Normalise whitespace: single spaces within lines, at most one blank line between paragraphs."""
    lines = [_BLANKS.sub(" ", line).strip() for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    return _MANY_NEWLINES.sub("\n\n", "\n".join(lines)).strip()


def excerpt(text: str, limit: int = 280) -> str:
    """The start of a note for a list view, cut at a word boundary."""
    flat = " ".join(text.split())
    if len(flat) <= limit:
        return flat
    cut = flat[:limit].rsplit(" ", 1)[0]
    return cut + " …"
