"""RaDaR's answer → diagnoses grounded in Orphanet, with the embedded ranker's phenotype evidence.

The answer is untrusted text. :func:`parse_answer` reads the model's list (numbered, bulleted,
markdown, "Name — reason", a "Final answer:" section after prose, words around the list) into
plain (name, reason) strings with no link targets; :func:`ground` finds the Orphanet disorder a
name means, exactly (after normalising case, punctuation, Greek letters, roman numerals,
possessives and "syndrome"/"disease" variants) or, above a confidence threshold, by fuzzy match.
A name that does not ground gets no code and no link: a link is never guessed.
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

FINAL = re.compile(r"(?im)^[ \t>#*_]*(?:final\s+(?:answer|diagnos[ie]s|differential(?:\s+diagnos[ie]s)?|ranking|list"
                   r"(?:\s+of\s+diagnoses)?)|answer)(?:\s*[*_]*\s*[:：-]\s*[*_]*|[ \t*_]*$)")
ITEM = re.compile(r"^(?P<indent>[ \t]*)(?:(?:#{1,6}[ \t]+)?(?:\*\*|__)?(?P<num>#\d{1,2}[.):]?|\d{1,2}[.):]|\(\d{1,2}\))"
                  r"(?:\*\*|__)?|(?P<bullet>[-*•+]))[ \t]+(?P<body>\S.*)$")
# An unindented line that ends the text about an item: a heading, a rule, or a "Note:"-like label.
CLOSER = re.compile(r"(?i)^(?:#{1,6}\s|[-*_]{3,}\s*$|[*_]*\s*(?:notes?|n\.?b\.?|please note|disclaimer|caveats?|"
                    r"important|recommendations?|next steps?|suggested|further|summary|in summary|conclusions?|comments?)\b"
                    r"[^:：\n]{0,40}[:：])")
# The lead line of a numbered list that is not a list of diagnoses (findings, tests, next steps …).
OTHER_LEAD = re.compile(r"(?i)\b(?:steps?|recommend\w*|work-?up|tests?|testing|investigations?|evaluations?|features?|"
                        r"findings?|phenotypes?|symptoms?|signs?|management|treatment|clues?)\b")
ANSWER_LEAD = re.compile(r"(?i)diagnos|differential|disease|syndrome|disorder|condition|answer|candidate")
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
    numbered items if there are any (of several numbered lists, the last one that is not led by
    "Key features:", "Next steps:" or the like), else top-level bullets, else one disease per
    line. Lines under an item are its reason; preamble, "Note:" paragraphs, headings and
    commentary after the last item are not. Markdown emphasis and links keep only their text;
    images, URLs and HTML tags are removed.
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
    """List items (head line, the lines about it) of the list that holds the diseases."""
    lines = [line.rstrip() for line in text.splitlines()]
    matches = [ITEM.match(line) for line in lines]
    numbered = any(m and m["num"] for m in matches)
    bullets = [_indent(m) for m in matches if m and m["bullet"]]
    top = min(bullets) if bullets else 0
    heads = [i for i, m in enumerate(matches) if m and (bool(m["num"]) if numbered else _indent(m) == top)]
    if not heads:
        return _plain_lines(lines)
    heads, end = _answer_list(lines, matches, heads) if numbered else (heads, len(lines))
    items: list[list[str]] = []
    attached = True
    for i in range(heads[0], end):
        line, m = lines[i], matches[i]
        if i in heads:
            items.append([m["body"], ""])
            attached = True
        elif line.strip() and not line[0].isspace() and (CLOSER.match(line) or (i > heads[-1] and (
                not lines[i - 1].strip() or line.endswith((":", "："))))):
            attached = False  # a note, a heading, or commentary after the last item
        elif line.strip() and attached:
            body = m["body"] if m else line.strip()
            items[-1][1] = f"{items[-1][1]} {body}".strip()
    return [(head, more) for head, more in items]


def _indent(m: re.Match) -> int:
    return len(m["indent"].expandtabs(4))


def _plain_lines(lines: list[str]) -> list[tuple[str, str]]:
    """One disease per line, headings skipped, up to the first "Note:"-like line."""
    out: list[tuple[str, str]] = []
    for line in lines:
        if out and CLOSER.match(line) and not line.startswith("#"):
            break
        if line.strip() and not line.lstrip().startswith("#"):
            out.append((line.strip(), ""))
    return out


def _answer_list(lines: list[str], matches: list, heads: list[int]) -> tuple[list[int], int]:
    """The numbered list that holds the diseases: the last one not led by "Key features:",
    "Next steps:" or the like (numbering restarts at 1 between lists); its heads, and where it ends."""
    runs: list[list[int]] = []
    for i in heads:
        if runs and not (_number(matches[i]) == 1 and _number(matches[runs[-1][-1]]) > 1):
            runs[-1].append(i)
        else:
            runs.append([i])
    if len(runs) == 1:
        return heads, len(lines)
    answers = [k for k, run in enumerate(runs) if not _other_list(_lead(lines, matches, run[0], runs, k))]
    if not answers:
        return heads, len(lines)
    k = answers[-1]
    return runs[k], runs[k + 1][0] if k + 1 < len(runs) else len(lines)


def _number(m: re.Match) -> int:
    return int(re.sub(r"\D", "", m["num"]))


def _lead(lines: list[str], matches: list, first: int, runs: list[list[int]], k: int) -> str:
    """The unindented line just before a list's first item (after the list before it), or ""."""
    since = runs[k - 1][-1] if k else -1
    for i in range(first - 1, since, -1):
        if lines[i].strip():
            return "" if matches[i] or lines[i][0].isspace() else lines[i]
    return ""


def _other_list(lead: str) -> bool:
    return bool(OTHER_LEAD.search(lead)) and not ANSWER_LEAD.search(lead)


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
