"""Clinical note attachments (HTML, RTF, plain text) to clean text, with maintained converters."""
from __future__ import annotations

import base64
import binascii
import hashlib
import re
import threading
from collections import OrderedDict
from collections.abc import Callable

from inscriptis import get_text
from inscriptis.model.config import ParserConfig
from striprtf.striprtf import rtf_to_text

from ..record import EXCLUDED_STATUSES, Note, text_of

# Most to least faithful to what the author wrote; Epic sends HTML and RTF of the same note.
PREFERRED_TYPES = ("text/html", "text/plain", "text/rtf", "application/rtf")
_HTML_CONFIG = ParserConfig(display_links=False, display_images=False)
_BLANKS = re.compile(r"[ \t\u00a0]+")
_MANY_NEWLINES = re.compile(r"\n{3,}")


MAX_ATTACHMENT_BYTES = 20 * 1024 * 1024
# HTML costs about 3.4 s per MB to convert (tables most), RTF less: beyond these sizes only the
# start is converted and the note is marked shortened. Plain text is taken whole.
MAX_CONVERTED_CHARS = {"text/html": 400_000, "text/rtf": 2_000_000, "application/rtf": 2_000_000}
CACHE_ENTRIES = 512
_TAG = re.compile(r"<[^>]*>|&[#\w]+;")
_converted: OrderedDict[bytes, tuple[str, bool]] = OrderedDict()
_converted_lock = threading.Lock()


class Unreadable(Exception):
    """An attachment's content could not be had or read; the message says why (no PHI)."""


class UnsupportedNote(Unreadable):
    """The attachment's content type cannot be turned into text."""


def decode_base64(data: str) -> bytes:
    """Decode an attachment's base64 ``data``; damaged or oversized content is Unreadable."""
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise Unreadable("the note's content is damaged (invalid base64)") from None
    if len(raw) > MAX_ATTACHMENT_BYTES:
        raise Unreadable("the note is too large to read")
    return raw


def note_stub(resource: dict) -> tuple[Note, dict | None] | None:
    """A DocumentReference or DiagnosticReport as a Note without text, plus the attachment to read."""
    kind = resource.get("resourceType")
    if kind == "DocumentReference":
        if resource.get("status") == "entered-in-error":
            return None
        attachments = [c.get("attachment") or {} for c in resource.get("content") or []]
        title = text_of(resource.get("type")) or resource.get("description") or "Clinical note"
        note = Note(ref=f"DocumentReference/{resource.get('id')}", kind="note", title=title,
                    date=resource.get("date"), content_type=None,
                    authors=_displays(resource.get("author"), [resource.get("authenticator")]))
        return note, pick_attachment(attachments)
    if kind == "DiagnosticReport":
        if not resource.get("presentedForm") or resource.get("status") in EXCLUDED_STATUSES:
            return None
        note = Note(ref=f"DiagnosticReport/{resource.get('id')}", kind="report",
                    title=text_of(resource.get("code")) or "Report",
                    date=resource.get("effectiveDateTime") or resource.get("issued"), content_type=None,
                    authors=_displays(resource.get("performer"), resource.get("resultsInterpreter")))
        return note, pick_attachment(resource["presentedForm"])
    return None


def _displays(*references) -> list[str]:
    """The display names of the References in the given lists (a note's authors, a report's performers)."""
    return [r["display"] for refs in references for r in refs or [] if isinstance(r, dict) and r.get("display")]


def read_note(note: Note, attachment: dict | None, fetch: Callable[[dict], bytes]) -> Note:
    """Fill ``note.text`` from ``attachment`` (bytes from ``fetch``), or ``note.error`` saying why not."""
    if attachment is None:
        note.error = "no readable text version (only formats such as PDF)"
        return note
    note.content_type = base_type(attachment.get("contentType"))
    try:
        note.text, note.shortened = converted(attachment.get("contentType"), fetch(attachment))
    except Unreadable as exc:
        note.error = str(exc)
    return note


def converted(content_type: str | None, data: bytes) -> tuple[str, bool]:
    """(clean text, shortened) of a note, cached by content: the same notes arrive on every chart open."""
    key = hashlib.blake2b(f"{content_type}\n".encode() + data, digest_size=16).digest()
    with _converted_lock:
        if key in _converted:
            _converted.move_to_end(key)
            return _converted[key]
    result = to_text_capped(content_type, data)
    with _converted_lock:
        _converted[key] = result
        while len(_converted) > CACHE_ENTRIES:
            _converted.popitem(last=False)
    return result


def to_text_capped(content_type: str | None, data: bytes) -> tuple[str, bool]:
    """``to_text`` of at most the first ``MAX_CONVERTED_CHARS`` of slow formats; (text, shortened).

    Output that is empty although the input holds text (deeply nested HTML, a converter's
    silent failure) is Unreadable: the note's findings must not vanish without a word.
    """
    kind = base_type(content_type)
    raw = _decode(content_type, data)
    limit = MAX_CONVERTED_CHARS.get(kind)
    shortened = limit is not None and len(raw) > limit
    if shortened:
        cut = raw[:limit]
        raw = cut[:cut.rfind(">") + 1] if kind == "text/html" and ">" in cut else cut
    text = _convert(kind, raw)
    if not text and _has_text(kind, raw):
        raise Unreadable("the note's text could not be extracted")
    return text, shortened


def _has_text(kind: str, raw: str) -> bool:
    if kind == "text/html":
        return bool(_TAG.sub("", raw).strip())
    if kind in ("text/rtf", "application/rtf"):
        return bool(re.sub(r"\\[a-z]+-?\d* ?|[{}]", "", raw).strip())
    return bool(raw.strip())


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
    return _convert(base_type(content_type), _decode(content_type, data))


def _decode(content_type: str | None, data: bytes) -> str:
    try:
        return data.decode(charset(content_type))
    except (LookupError, UnicodeDecodeError):
        return data.decode("utf-8", errors="replace")


def _convert(kind: str, raw: str) -> str:
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
