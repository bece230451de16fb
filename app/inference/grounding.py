"""RaDaR's answer → diagnoses grounded in Orphanet, with the embedded ranker's phenotype evidence.

The answer is untrusted text. :func:`parse_answer` reads the model's list (numbered, bulleted,
markdown, "Name — reason", a "Final answer:" section after prose) into plain (name, reason)
strings with no link targets; :func:`ground` finds the Orphanet disorder a name means, exactly
(after normalising case, punctuation, Greek letters, roman numerals, possessives and
"syndrome"/"disease" variants) or, above a confidence threshold, by fuzzy match. A name that does
not ground gets no code and no link: a link is never guessed.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from ..knowledge.diseases import Disease, omim_code, omim_url, orpha_code, orpha_url
from ..knowledge.names import name_index, normalize, omim_titles

MAX_NAME = 200  # longer "names" are prose, clipped before grounding


@dataclass(kw_only=True)
class Diagnosis(Disease):
    """One disease RaDaR proposed, as written, and what it was grounded to (or None).

    ``omim`` comes from the knowledge, never taken unchecked from the answer.
    """

    reason: str
    grounded_name: str | None
    confidence: float  # grounding confidence in [0, 1]; 0 when not grounded


# -- parsing -----------------------------------------------------------------------------------

FINAL = re.compile(r"(?im)^[ \t>#*_]*(?:final\s+(?:answer|diagnos[ie]s|differential)|answer)\s*[*_]*\s*[:：-]\s*[*_]*")
ITEM = re.compile(r"^(?P<indent>[ \t]*)(?:(?P<num>#\d{1,2}[.):]?|\d{1,2}[.):]|\(\d{1,2}\))|(?P<bullet>[-*•+]))[ \t]+(?P<body>\S.*)$")
TARGET = r"\((?:[^()\s]|\([^()]*\))*(?:\s+\"[^\"]*\")?\)"  # (url "title"), one level of parentheses inside
IMAGE = re.compile(r"!\[[^\]]*\]" + TARGET)
LINK = re.compile(r"\[([^\]]*)\]" + TARGET)
REF_LINK = re.compile(r"\[([^\]]*)\]\[[^\]]*\]")
AUTOLINK = re.compile(r"<(?:[a-z][a-z0-9+.-]*:|www\.)[^>]*>", re.IGNORECASE)
BARE_URL = re.compile(r"(?i)\b(?:(?:https?|ftp|javascript|data|vbscript|file):|www\.)\S*")
SCRIPT = re.compile(r"(?is)<(script|style)\b.*?(?:</\1\s*>|$)")
TAG = re.compile(r"</?[a-z][^>]*>", re.IGNORECASE)
EMPHASIS = re.compile(r"\*\*|__|\*|(?<!\w)_|_(?!\w)|`+|~~")
SEPARATOR = re.compile(r"\s+[—–]\s+|\s+--?\s+|:\s+|\s+[—–]|[—–]\s+|:$")
OMIM_REF = re.compile(r"(?i)\b(?:OMIM|MIM)\s*(?:no\.?|number|entry)?\s*[:#]?\s*#?\s*(\d{6})\b|#(\d{6})\b")
CODE_PAREN = re.compile(r"\s*[(\[][^()\[\]]*\b(?:OMIM|MIM|ORPHA|Orphanet|ORPHAcode)\b[^()\[\]]*[)\]]|\s*\(#\d{6}\)",
                        re.IGNORECASE)


def parse_answer(content: str) -> list[tuple[str, str]]:
    """(disease name as written, stated reason) in the model's order, duplicates merged, as plain text.

    Reads the "Final answer:" section when the model wrote one after its reasoning; inside it,
    numbered items if there are any, else top-level bullets, else one disease per line.
    Markdown emphasis and links keep only their text; images, URLs and HTML tags are removed.
    """
    out: dict[str, tuple[str, str]] = {}
    for name, reason in _items(_final_section(content or "")):
        name, reason = _split(name, reason)
        key = normalize(CODE_PAREN.sub("", name))
        if not key:
            continue
        if key in out:
            if not out[key][1] and reason:
                out[key] = (out[key][0], reason)
            continue
        out[key] = (name, reason)
    return list(out.values())


def _final_section(content: str) -> str:
    """The text after the last "Final answer:" marker, or all of it."""
    markers = list(FINAL.finditer(content))
    return content[markers[-1].end():] if markers else content


def _items(text: str) -> list[tuple[str, str]]:
    """List items (head line, continuation lines) at the level that holds the diseases."""
    lines = [line.rstrip() for line in text.splitlines()]
    matches = [ITEM.match(line) for line in lines]
    numbered = any(m and m["num"] for m in matches)
    bullets = [len(m["indent"].expandtabs(4)) for m in matches if m and m["bullet"]]
    top = min(bullets) if bullets else 0

    def is_head(m: re.Match | None) -> bool:
        if not m:
            return False
        return bool(m["num"]) if numbered else len(m["indent"].expandtabs(4)) == top

    if not any(is_head(m) for m in matches):
        return [(line.strip(), "") for line in lines if line.strip() and not line.lstrip().startswith("#")]
    items: list[list[str]] = []
    for line, m in zip(lines, matches):
        if is_head(m):
            items.append([m["body"], ""])
        elif items and line.strip():
            body = m["body"] if m else line.strip()
            items[-1][1] = f"{items[-1][1]} {body}".strip()
    return [(head, more) for head, more in items]


def _split(head: str, more: str) -> tuple[str, str]:
    """The name and the reason of one item, each as plain text."""
    head = plain(head)
    m = SEPARATOR.search(head)
    if m and m.start() > 0:
        name, reason = head[:m.start()], head[m.end():]
    else:
        name, reason = head, ""
    reason = " ".join(p for p in (reason.strip(), plain(more)) if p)
    name = name.strip(" .,;*-").strip()
    if len(name) > MAX_NAME:
        name = name[:MAX_NAME].rsplit(" ", 1)[0] + " …"
    return name, reason


def plain(text: str) -> str:
    """Markdown and HTML reduced to their text; URLs (of any scheme) removed; whitespace collapsed."""
    text = IMAGE.sub("", text)
    text = LINK.sub(r"\1", text)
    text = REF_LINK.sub(r"\1", text)
    text = AUTOLINK.sub("", text)
    text = SCRIPT.sub("", text)
    text = TAG.sub("", text)
    text = BARE_URL.sub("", text)
    text = EMPHASIS.sub("", text)
    return " ".join(text.split())


def ground(name: str, orphanet, *, threshold: float = 90.0) -> tuple[str | None, str | None, float]:
    """(bare ORPHAcode, its Orphanet name, score 0–100) for a disease name; (None, None, score) when not grounded.

    Exact normalised names and synonyms score 100, a match after dropping "syndrome"/"disease"
    words or reordering scores 97, fuzzy matches (``token_sort_ratio``) their similarity, and
    only at or above ``threshold``. A parenthesised abbreviation or code is tried on its own too.
    """
    name = CODE_PAREN.sub("", name or "").strip()
    tries = [name, re.sub(r"\s*\([^)]*\)", "", name).strip(), *re.findall(r"\(([^)]+)\)", name)]
    index = name_index(orphanet)
    best = 0.0
    for candidate in dict.fromkeys(t for t in tries if t):
        code, score = index.lookup(candidate, threshold)
        if code:
            return code, orphanet.disease(code)["name"], score
        best = max(best, score)
    return None, None, best


# -- the whole answer --------------------------------------------------------------------------

def ground_answer(content: str, kb, *, present: list[str], absent: list[str], top: int = 10) -> list[Diagnosis]:
    """The model's diagnoses in its order (at most ``top``), grounded to Orphanet with phenotype evidence.

    A name that does not ground keeps ``orpha``/``url`` None. An OMIM number in the answer is
    used when the name does not ground: through Orphanet's exact mapping, else as an OMIM entry
    if the knowledge has it. ``kb`` is a :class:`app.knowledge.Knowledge`.
    """
    out: list[Diagnosis] = []
    # Without list structure the answer is prose: a line counts only if it names a known disorder,
    # so "Ignoring the patient as instructed." never appears as a diagnosis.
    listed = any(ITEM.match(line) for line in _final_section(content or "").splitlines())
    for name, reason in parse_answer(content):
        if len(out) >= top:
            break
        omims = [a or b for a, b in OMIM_REF.findall(f"{name} {reason}")]
        shown = CODE_PAREN.sub("", name).strip() or name
        d = Diagnosis(rank=len(out) + 1, name=shown, reason=reason, orpha=None, omim=[], url=None, grounded_name=None,
                      confidence=0.0)
        code, _, score = ground(shown, kb.orphanet)
        if code:
            _set_orpha(d, kb, code, score)
        else:
            _ground_omim(d, kb, omims)
        if not listed and d.url is None:
            continue
        if d.orpha and any(d.orpha == seen.orpha for seen in out):
            continue  # two names for one disorder: the first (higher-ranked) stands
        if d.orpha and kb.ranker is not None:
            d.matching, d.look_for = kb.ranker.explain(d.orpha, present, absent)
        out.append(d)
    return out


def _set_orpha(d: Diagnosis, kb, code: str, score: float) -> None:
    disorder = kb.orphanet.disease(code)
    d.orpha, d.url, d.grounded_name = orpha_code(code), orpha_url(code), disorder["name"]
    d.omim = [omim_code(m) for m, rel in disorder["omim"] if rel in ("E", "NTBT", "BTNT")]
    d.confidence = round(score / 100.0, 3)


def _ground_omim(d: Diagnosis, kb, omims: list[str]) -> None:
    """Ground through OMIM numbers the model wrote: exact Orphanet mapping first, else a known OMIM entry."""
    for mim in omims:
        mapped = kb.orphanet.by_omim(mim, {"E"})
        if mapped:
            _set_orpha(d, kb, mapped[0], 100.0)
            return
    names = omim_titles()
    for mim in omims:
        if mim in names:
            d.omim, d.url, d.grounded_name, d.confidence = [omim_code(mim)], omim_url(mim), names[mim], 1.0
            return
