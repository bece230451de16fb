"""HPO concept matching: the :class:`Matcher` over the lexicon's labels.

Text and every HPO name/synonym are cut into words and normalised by :mod:`app.phenotype.lexical`
(light stemmer: plurals -ies/-es/-s, Latin -i/-ae, participles and gerunds -ed/-ing, so "bridging"
finds "Bridged ..."; stop words dropped; anatomical adjectives become their nouns, "renal", "otic",
"ophthalmic"). Adjectives a lexicon noun is written as in prose fold onto that noun on both sides
("hypotonic" → hypotonia, "microcephalic", "spastic", "deaf", "hypermobile joints"), after a hyphen
as well, as the labels fold them ("CD4-positive T cells"); "enlarged" reads as "large" and
"dilatation" as "dilated", as HPO's own synonyms use them interchangeably. A window of consecutive
content words matches a label when both hold the same *bag* of stems, so "hyperplasia of the
coronoid processes" finds "Coronoid process hyperplasia". Windows never cross sentence punctuation;
among overlapping candidates the longest wins. Lookups are a dict probe per window, and windows only
grow over words that occur in some label, so the cost is linear in the text length. Coordinations
share their head: "palmar and plantar pits" and comma lists such as "branchial, otic and renal
anomalies" or "cysts of the kidney, liver, and pancreas" yield one match per conjunct. Upper-case
abbreviations (``GERD``, ``VSD``) match case-sensitively and only when unambiguous and at least
three letters long. Abbreviations a text defines itself, "basal cell carcinomas (BCCs)", are found
as Schwartz & Hearst (2003) do and later mean what their long form matches; one defined as something
that is no HPO term ("Stickler syndrome (STL)") silences the lexicon's reading of that spelling.

FASTHPOCR_CHOICE: FastHPOCR 0.1.4 (PyPI ``fasthpocr``, Groza et al. 2024) was measured before
writing more matching by hand. Its index was built from the same hp-2025-01-16.obo, restricted to
HP:0000118 like our lexicon; the stock ``IndexHPO`` serialisation scans all 573,507 cluster tokens
once per cluster (quadratic), so ``CRIndexKB.prepareClustersToSerialise`` was monkeypatched with one
inverted pass (same output order): 13 s instead of tens of minutes, a 129 MB JSON index; it also
needs ``pronto``, which it does not declare. GSC+ dev, document-level micro P/R/F1 of all concepts,
split by SHA-256 of the PMID (tests/bench/bench_gscplus.py ``split``: 10 tuning, 12 held-out):

=====================================  ===================  ===================  ===================
recognizer                             tuning               held-out             all 22
=====================================  ===================  ===================  ===================
ours                                   .879 / .690 / .773   .904 / .653 / .758   .894 / .667 / .764
FastHPOCR, longestMatch=True           .848 / .667 / .747   .843 / .597 / .699   .845 / .623 / .717
FastHPOCR, every match                 .690 / .690 / .690   .691 / .653 / .671   .691 / .667 / .679
union, ours ∪ FastHPOCR (longest)      .816 / .738 / .775   .833 / .694 / .758   .827 / .711 / .764
intersection (longest)                 .929 / .619 / .743   .930 / .556 / .696   .930 / .579 / .714
=====================================  ===================  ===================  ===================

Declined: on the held-out half FastHPOCR alone is 0.06 F1 below ours, and the union buys recall
(+0.04) only with as much precision (-0.07), so F1 does not move (0.758 either way) while it would
add a 129 MB build artefact, an undeclared dependency and a second tokenisation whose spans
ConText would have to reconcile. The adjective folding above leaves these GSC+ figures unchanged
(abstracts rarely write "hypotonic"; case reports and notes do; see tests/phenotype/test_text.py).
"""
from __future__ import annotations

import bisect
import gc
import re
from collections import Counter
from functools import lru_cache

from ..knowledge.hpo import Lexicon, load_lexicon
from .lexical import (
    BREAKS,
    CONJUNCTION_WORD,
    CONJUNCTIONS,
    INNER_HYPHEN,
    MIN_ABBREVIATION,
    MIN_WORD_LABEL,
    SHORTHAND,
    STOP_WORDS,
    TOKEN,
    WEAK_SINGLE_WORDS,
    derived_map,
    is_plural,
    norm,
)

__all__ = ["Matcher", "SHORTHAND", "get_matcher"]


def _label_key(label: str) -> tuple[str, ...] | None:
    """The sorted bag of content stems of a label, or None when it is too weak to match on."""
    words = [t for t in TOKEN.findall(label) if t not in BREAKS]
    stems = [norm(w) for w in words if w.lower() not in STOP_WORDS]
    if not stems:
        return None
    if len(stems) == 1 and (len(stems[0]) < MIN_WORD_LABEL or stems[0] in WEAK_SINGLE_WORDS):
        return None
    return tuple(sorted(stems))


VARIANT_PRIORITY = 4
# "Abnormal rib morphology" is written "abnormal ribs"; the variant without the filler word
# ranks below every real label, so it never displaces one.
FILLER_WORDS = ("morphology", "physiology")


def _label_keys(label: str, prio: int) -> list[tuple[tuple[str, ...], int]]:
    """Keys of a label with their priority: the label's own bag, plus a filler-free variant."""
    key = _label_key(label)
    if key is None:
        return []
    out = [(key, prio)]
    if "-" in label:
        joined = _label_key(INNER_HYPHEN.sub("", label))
        if joined and joined != key:
            out.append((joined, prio))
    if "abnormal" in key:
        short = tuple(w for w in key if w not in FILLER_WORDS)
        if len(short) >= 2 and short != key:
            out.append((short, VARIANT_PRIORITY))
    return out


def _is_stray_gerund(label: str, kind: str) -> bool:
    """One-word technical synonyms such as "Collecting" or "Hopping" read as ordinary verbs in notes."""
    return kind != "name" and "layperson" not in kind and " " not in label and label.lower().endswith("ing")


def _is_abbreviation(label: str) -> bool:
    """A single upper-case token such as ``GERD`` (case carries its meaning)."""
    return " " not in label and sum(c.isupper() for c in label) >= 2 and label.isalnum()


LABEL_PRIORITY = {"name": 0, "EXACT": 1, "RELATED": 2, "NARROW": 3}


class Matcher:
    """Bag-of-stems dictionary over all lexicon labels, plus case-sensitive abbreviations."""

    def __init__(self, lexicon: Lexicon):
        self.lexicon = lexicon
        best: dict[tuple, tuple[int, set]] = {}
        self.coordinated_keys: set[tuple] = set()
        abbreviations: dict[str, set] = {}
        for hpo in lexicon.terms:
            for label, kind in lexicon.labels(hpo):
                if _is_abbreviation(label):
                    if len(label) >= MIN_ABBREVIATION:
                        abbreviations.setdefault(label, set()).add(hpo)
                    continue
                if _is_stray_gerund(label, kind):
                    continue
                prio = LABEL_PRIORITY[kind.split()[0]]
                if CONJUNCTION_WORD.search(label):
                    self.coordinated_keys.update(k for k, _ in _label_keys(label, prio))
                for key, variant_prio in _label_keys(label, prio):
                    held = best.get(key)
                    if held is None or variant_prio < held[0]:
                        best[key] = (variant_prio, {hpo})
                    elif variant_prio == held[0]:
                        held[1].add(hpo)
        # adjectives fold onto their nouns on both sides: "hypotonic" is read as "hypotonia"
        self.derived = derived_map(Counter(w for key in best for w in key))
        best = _fold_keys(best, self.derived)
        self.coordinated_keys = {self._fold(k) for k in self.coordinated_keys}
        self.index = {key: tuple(sorted(hpos)) for key, (_, hpos) in best.items()}
        self.abbreviations = {a: next(iter(h)) for a, h in abbreviations.items() if len(h) == 1}
        self.vocab = frozenset(w for key in self.index for w in key)
        self.max_len = max(len(k) for k in self.index)

    def _fold(self, key: tuple[str, ...]) -> tuple[str, ...]:
        """A label key with its adjectives folded onto their nouns."""
        return tuple(sorted(self.derived.get(w, w) for w in key))

    def spans(self, text: str, nested: bool = False) -> list[tuple[int, int, tuple[str, ...]]]:
        """``(start, end, hpo_ids)`` matches in text order: the longest non-overlapping ones, plus
        with ``nested`` the shorter concepts inside them ("colitis" in "ulcerative colitis"), plus
        coordinated ones ("palmar and plantar pits" → palmar pits, plantar pits)."""
        candidates, coordinated = [], []
        run: list[tuple[int, int, str, bool, bool]] = []
        conjunctions: list[int] = []
        chain: list[list] = []  # the comma-separated segments before this one
        local = self.defined_abbreviations(text)
        for m in TOKEN.finditer(text):
            tok = m.group()
            if tok in BREAKS:
                self._match_run(run, candidates)
                self._match_coordination(run, conjunctions, coordinated)
                if chain and conjunctions:
                    self._match_list(chain, run, conjunctions, coordinated)
                if tok == "," and run:
                    extend = chain and len(run) == 1 and not conjunctions and len(chain) < MAX_LIST
                    chain = chain + [run] if extend else [run]
                else:
                    chain = []
                run, conjunctions = [], []
                continue
            short = _abbreviation_key(tok)
            if short in local:
                if local[short]:
                    candidates.append((1, m.start(), m.end(), local[short]))
            elif tok in self.abbreviations:
                candidates.append((1, m.start(), m.end(), (self.abbreviations[tok],)))
            low = tok.lower()
            if low in STOP_WORDS:
                if low in CONJUNCTIONS and (run or chain):  # ", and" ends a list
                    conjunctions.append(len(run))
                continue
            stem = norm(tok)
            if run and run[-1][1] == m.start() - 1 and text[run[-1][1]] == "-":
                joined = norm(text[run[-1][0]:run[-1][1]] + tok)
                joined = self.derived.get(joined, joined)
                if joined in self.vocab:  # "pre-auricular" is written "preauricular" in HPO
                    run[-1] = (run[-1][0], m.end(), joined, run[-1][3], run[-1][4])
                    continue
            # Folded after a hyphen too, as in the labels ("CD4-positive T cells" has positivity
            # folded on both sides); "-ness" nouns are not derived, so "double-blind" stays blind.
            stem = self.derived.get(stem, stem)
            after_conjunction = bool(conjunctions) and conjunctions[-1] == len(run)
            run.append((m.start(), m.end(), stem, is_plural(low, stem), after_conjunction))
        self._match_run(run, candidates)
        self._match_coordination(run, conjunctions, coordinated)
        if chain and conjunctions:
            self._match_list(chain, run, conjunctions, coordinated)
        # each reading (one conjunct dropped, or one list item joined to the head) resolves its
        # own overlaps: "branchial, otic and renal anomalies" keeps all three
        readings = [span for group in coordinated for span in _select(group)]
        return _merge_coordinated(_select(candidates, nested), sorted(set(readings)))

    def _match_coordination(self, run, conjunctions, out) -> None:
        """Matches that share a word across "and"/"or": drop one conjunct and match the rest.

        "subcapsular or capsular cataract" yields "subcapsular cataract" (without "capsular") and
        "capsular cataract"; only windows that bridge the dropped word are kept.
        """
        for k in conjunctions:
            if k >= len(run):
                continue
            for dropped in (k - 1, k) if k else (k,):
                lo, hi = max(0, dropped - self.max_len), min(len(run), dropped + self.max_len + 1)
                found: list = []
                kept = run[lo:dropped] + [_no_conjunction(t) for t in run[dropped + 1:hi]]
                self._match_run(kept, found)
                gap_start, gap_end = run[dropped][0], run[dropped][1]
                out.append([c for c in found if c[1] < gap_start and c[2] > gap_end and c[0] >= 2])

    def _match_list(self, chain, run, conjunctions, out) -> None:
        """Comma lists that share a head noun: "branchial, otic and renal anomalies" yields
        "branchial anomalies" too, and "cysts of the kidney, liver and pancreas" yields "liver
        cysts". ``chain`` holds the segments before the last comma: the first may be a longer
        run whose last word is the first conjunct, the others are single words; ``run`` is the
        last segment, "and"/"or" at its start or after one word. Each conjunct is matched with
        the words before the list and with those after the last conjunct; only windows that
        join a conjunct to words it is not next to in the text are kept."""
        k = conjunctions[0]
        if k > 1 or k >= len(run):
            return
        span = self.max_len - 1
        before = [_no_conjunction(t) for t in chain[0][:-1][-span:]]
        after = [_no_conjunction(t) for t in run[k + 1:k + 1 + span]]
        items = [(chain[0][-1], False)] + [(seg[0], True) for seg in chain[1:]]
        items += [(t, True) for t in run[:k]] + [(run[k], True)]
        for n, (item, with_before) in enumerate(items):
            with_after = n < len(items) - 1
            kept = (before if with_before else []) + [_no_conjunction(item)] + (after if with_after else [])
            if len(kept) < 2:
                continue
            found: list = []
            self._match_run(kept, found)
            out.append([c for c in found if c[0] >= 2 and c[1] <= item[0] and c[2] >= item[1]])

    def defined_abbreviations(self, text: str) -> dict[str, tuple[str, ...]]:
        """Abbreviations the text defines, "long form (ABBR)", as ``ABBR → hpo ids``.

        The long form is found as Schwartz & Hearst (2003) do: the shortest run of words before
        the parenthesis, at most min(|A| + 5, 2|A|) words, holding the abbreviation's letters in
        order with its first letter starting a word. The abbreviation then means what its whole
        long form matches in the lexicon; when the long form is no HPO concept (a syndrome, a
        gene) the mapping is empty, which also silences a lexicon abbreviation of that spelling.
        """
        out: dict[str, tuple[str, ...]] = {}
        for m in _DEFINITION.finditer(text):
            short = m.group(1)
            if sum(c.isupper() for c in short) < 2 or _abbreviation_key(short) in out:
                continue
            before = _CLAUSE_START.split(text[max(0, m.start() - 300):m.start()])[-1]
            words = before.split()
            limit = min(len(short) + 5, 2 * len(short))
            long_form = _long_form(short, " ".join(words[-limit:]))
            if long_form is None:
                continue
            key = _label_key(long_form)
            out[_abbreviation_key(short)] = self.index.get(self._fold(key), ()) if key else ()
        return out

    def _match_run(self, run, candidates) -> None:
        """Probe every window of a break-free run of content words
        ``(start, end, stem, plural, after_conjunction)``; a window spanning "and"/"or" must
        match a label that has one too ("cleft lip and palate")."""
        vocab, index, max_len, n = self.vocab, self.index, self.max_len, len(run)
        for i in range(n):
            if run[i][2] not in vocab:
                continue
            bag, crossed = [], False
            for j in range(i, min(n, i + max_len)):
                stem = run[j][2]
                if stem not in vocab:
                    break
                crossed = crossed or (j > i and run[j][4])
                bisect.insort(bag, stem)
                key = tuple(bag)
                if crossed and key not in self.coordinated_keys:
                    continue
                hit = index.get(key)
                if hit and run[j][3]:
                    # a plural finding ("lipomas") is the "Multiple ..." term where HPO has one
                    hit = index.get(tuple(sorted(bag + ["multiple"])), hit)
                if hit:
                    candidates.append((j - i + 1, run[i][0], run[j][1], hit))


MAX_LIST = 8
_DEFINITION = re.compile(r"\((?!\s)([A-Za-z][A-Za-z0-9\-]{1,9})\s*[;,)]")
_CLAUSE_START = re.compile(r"[.;:!?()\[\]\n](?:\s|$)|[()\[\]]")


def _abbreviation_key(token: str) -> str:
    """An abbreviation without its plural "s" ("BCCs" → "BCC")."""
    return token[:-1] if len(token) > 2 and token.endswith("s") and token[-2].isupper() else token


def _long_form(short: str, candidate: str) -> str | None:
    """Schwartz & Hearst's long form of ``short`` at the end of ``candidate``, or None."""
    s, i = len(short) - 1, len(candidate) - 1
    while s >= 0:
        c = short[s].lower()
        if not c.isalnum():
            s -= 1
            continue
        while i >= 0 and (candidate[i].lower() != c or (s == 0 and i > 0 and candidate[i - 1].isalnum())):
            i -= 1
        if i < 0:
            return None
        i -= 1
        s -= 1
    return candidate[candidate.rfind(" ", 0, i + 1) + 1:]


def _select(candidates, nested: bool = False) -> list[tuple[int, int, tuple[str, ...]]]:
    """Keep the longest candidates that do not overlap a longer (or earlier equal) one; with
    ``nested``, also those lying wholly inside a kept one."""
    taken: list[tuple[int, int]] = []
    chosen = []
    for _, start, end, hpos in sorted(candidates, key=lambda c: (-c[0], -(c[2] - c[1]), c[1])):
        k = bisect.bisect_left(taken, (start, end))
        if k > 0 and taken[k - 1][1] > start:
            if nested and taken[k - 1][1] >= end:
                chosen.append((start, end, hpos))
            continue
        if k < len(taken) and taken[k][0] < end:
            if nested and taken[k][0] == start and taken[k][1] >= end:
                chosen.append((start, end, hpos))
            continue
        taken.insert(k, (start, end))
        chosen.append((start, end, hpos))
    chosen.sort()
    return chosen


def _fold_keys(best: dict, derived: dict[str, str]) -> dict:
    """``best`` (key → (priority, hpo ids)) with adjectives folded onto nouns; on a collision the
    better priority wins and equal ones pool their terms."""
    out: dict[tuple, tuple[int, set]] = {}
    for key, (prio, hpos) in best.items():
        folded = tuple(sorted(derived.get(w, w) for w in key))
        held = out.get(folded)
        if held is None or prio < held[0]:
            out[folded] = (prio, set(hpos))
        elif prio == held[0]:
            held[1].update(hpos)
    return out


def _no_conjunction(token: tuple) -> tuple:
    """A run token with its "after and/or" mark cleared (the conjunct before it was dropped)."""
    return token[:4] + (False,)


def _merge_coordinated(chosen, coordinated) -> list[tuple[int, int, tuple[str, ...]]]:
    """Add coordinated matches whose concepts the overlapping plain matches do not already name."""
    if not coordinated:
        return chosen
    starts = [s for s, _, _ in chosen]
    width = max(e - s for s, e, _ in [*chosen, *coordinated])
    added: list = []
    for start, end, hpos in coordinated:  # in text order, so ``added`` stays sorted by start
        near = set()
        k = bisect.bisect_left(starts, end)
        while k > 0 and starts[k - 1] > start - width:  # only spans this close can overlap
            k -= 1
            if chosen[k][1] > start:
                near.update(chosen[k][2])
        for s, e, hs in reversed(added):
            if s <= start - width:
                break
            if s < end and e > start:
                near.update(hs)
        fresh = tuple(h for h in hpos if h not in near)
        if fresh and not (added and added[-1] == (start, end, fresh)):
            added.append((start, end, fresh))
    return sorted(chosen + added)


def get_matcher(lexicon: Lexicon | None = None) -> Matcher:
    """The matcher for a lexicon (the committed one by default), built once per lexicon."""
    return _matcher_for(lexicon or load_lexicon())


@lru_cache(maxsize=2)
def _matcher_for(lexicon: Lexicon) -> Matcher:
    """Build and cache the matcher of one loaded lexicon."""
    matcher = Matcher(lexicon)
    # Half a million long-lived objects: freezing them spares every later full GC pass a walk
    # over them (~0.3 s each on this machine).
    gc.collect()
    gc.freeze()
    return matcher
