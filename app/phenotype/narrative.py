"""Notes and report narratives → HPO mentions (negated ones kept as absent), with spans."""
from __future__ import annotations

from ..record import Note
from .model import ABSENT, PRESENT, Mention, Phenotype
from .text import MAX_CHARS, recognize

CONTEXT = 80  # characters shown either side of a mention


def from_notes(notes: list[Note], kb) -> tuple[list[Phenotype], list[str]]:
    """Phenotypes from each note's clean text; a note longer than MAX_CHARS is read in part, and said so."""
    found, warnings = [], []
    for note in notes:
        if not note.text:
            continue
        text = note.text
        if len(text) > MAX_CHARS:
            warnings.append(f"{note.title} ({(note.date or 'no date')[:10]}): only the first {MAX_CHARS:,} of "
                            f"{len(text):,} characters were read for phenotypes")
            text = text[:MAX_CHARS]
        found.extend(mentions_to_phenotypes(text, note.ref, "report" if note.kind == "report" else "note", kb))
    return found, warnings


def mentions_to_phenotypes(text: str, source: str, origin: str, kb, mentions: list[Mention] | None = None
                           ) -> list[Phenotype]:
    """The patient's own mentions in ``text`` as phenotypes (family history and hypotheticals dropped);
    ``mentions``: what ``recognize`` found in ``text`` already, where the caller has it."""
    out = []
    for m in recognize(text, kb.lexicon) if mentions is None else mentions:
        if m.family or m.hypothetical:
            continue
        before = text[max(0, m.start - CONTEXT):m.start]
        after = text[m.end:m.end + CONTEXT]
        out.append(Phenotype(hpo=m.hpo, label=kb.lexicon.name(m.hpo) or m.text,
                             status=ABSENT if m.negated else PRESENT, source=source, origin=origin,
                             evidence=m.text, span=(m.start, m.end),
                             context=(_trim_left(before), text[m.start:m.end], _trim_right(after))))
    return out


def _trim_left(s: str) -> str:
    s = " ".join(s.split())
    return ("… " + s.split(" ", 1)[-1]) if len(s) >= CONTEXT - 5 and " " in s else s


def _trim_right(s: str) -> str:
    s = " ".join(s.split())
    return (s.rsplit(" ", 1)[0] + " …") if len(s) >= CONTEXT - 5 and " " in s else s
