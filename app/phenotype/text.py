"""HPO concept recognition in clinical text, with ConText-style negation, family and hypothetical flags.

:func:`recognize` finds the HPO concepts of a text with :mod:`app.phenotype.matcher` (bags of
stems over the lexicon's labels, coordinations, abbreviations the text defines) and flags each
mention with :mod:`app.phenotype.context` (ConText triggers, terminators and family-history
sections). Both modules say how they work; this one records what was measured.

GSC+ dev (22 abstracts, tests/bench/bench_gscplus.py), document-level micro P/R/F1 of all
concepts: 0.894 / 0.667 / 0.764 (was 0.878 / 0.632 / 0.735 before the comma lists, Latin plurals,
-ed/-ing and the adjective nouns); patient-only 0.900 / 0.553 / 0.685 (was 0.882 / 0.526 / 0.659).
Those rules were tuned on all 22; the bench now keeps a held-out half (12 abstracts, by a hash of
the PMID) whose errors are never read: 0.904 / 0.653 / 0.758 there (tuning half 0.773 F1).
FastHPOCR was measured on the same split and declined (``matcher.FASTHPOCR_CHOICE``).
Tried and dropped: windows skipping one inner word (no gain, one false positive). Speed: matcher
and context take ~20 ms per 20 KB of text against a 150 ms budget for the whole recognizer, which
is why ConText is re-implemented rather than taken from medspacy (``context.CONTEXT_CHOICE``).
"""
from __future__ import annotations

from ..knowledge.hpo import Lexicon
from .context import Context
from .matcher import SHORTHAND, get_matcher
from .model import Mention

# get_matcher and SHORTHAND are re-exported: callers (the knowledge warm-up, tests) take them from here.
__all__ = ["MAX_CHARS", "SHORTHAND", "get_matcher", "recognize", "recognize_many"]

MAX_CHARS = 1_000_000
"""Callers truncate longer texts to this many characters and say so (about 1.5 s of work here)."""


def recognize(text: str, lexicon: Lexicon | None = None, nested: bool = False) -> list[Mention]:
    """HPO mentions in ``text`` (character spans into it), with negation/family/hypothetical/historical flags.

    Overlapping candidates resolve to the longest; ``nested=True`` also returns the shorter
    concepts inside a match ("colitis" within "ulcerative colitis").
    """
    matcher = get_matcher(lexicon)
    found = matcher.spans(text, nested)
    if not found:
        return []
    context = Context(text)
    mentions = []
    for start, end, hpos in found:
        flags = context.flags(start, end)
        for hpo in hpos:
            mentions.append(Mention(hpo=hpo, start=start, end=end, text=text[start:end], **flags))
    return mentions


def recognize_many(texts, lexicon: Lexicon | None = None) -> list[list[Mention]]:
    """``recognize`` over several texts (the matcher is shared; there is no batch speed-up)."""
    return [recognize(t, lexicon) for t in texts]
