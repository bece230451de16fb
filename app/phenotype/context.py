"""ConText-style flags of a mention: negated, family, hypothetical, historical.

A compact implementation of the ConText algorithm (Harkema et al. 2009): trigger
phrases open a scope forward (or, for post-triggers such as "was ruled out", a short scope
backward) that ends at the sentence boundary or at a terminator ("but", "however", "has",
"patient", ...). Pseudo-triggers ("no increase", "not only") are skipped. Family-history
sections ("Family history:" up to the next heading or blank line) flag everything in them.
CONTEXT_CHOICE below records why this is not medspacy's ConText.
"""
from __future__ import annotations

import bisect
import re

CONTEXT_CHOICE = """\
Measured before choosing (2-core machine, Python 3.11): medspacy 1.3.1 with its PyRuSH
sentencizer and ConText installs 283 MB (spaCy 3.7.5, thinc, numpy pinned to 1.26,
pydantic, quickumls, unqlite), loads in 0.9 s after import, and takes 0.53-0.63 s per
20 KB of text (spaCy tokenising + PyRuSH + ConText), against a 150 ms budget for the whole
recognizer; this recognizer's matcher + context take ~20 ms for the same 20 KB. On the
unit-test sentences medspacy agreed with this implementation except that its default rules
mark "Evaluate for hypotonia" as *negated* (it would become an absent phenotype) where we
mark it hypothetical. The ConText algorithm and trigger lists are small and published, so
they are re-implemented here rather than taking the dependency.
"""


def _phrases(words: str) -> str:
    """One regex alternation of trigger phrases, longest first, on word boundaries."""
    items = sorted({w.strip() for w in words.strip().split("|") if w.strip()}, key=len, reverse=True)
    body = "|".join(re.escape(i).replace(r"\ ", r"\s+") for i in items)
    return rf"(?<![\w/])(?:{body})(?![\w/])"


NEGATION_PRE = _phrases("""
no | not | denies | denied | deny | denying | negative for | without | absence of | absent |
free of | no evidence of | no signs of | no sign of | no history of | never had | never |
did not have | does not have | do not have | not have | has not had | no h/o | rules out | ruled out |
r/o'd | no findings of | no complaints of | resolved | neither | nor | fails to reveal |
no further | unremarkable for | negative history of | not demonstrate | not show | not exhibit |
no new | absent of | lack of | lacks | lacked | lacking
""")
NEGATION_POST = _phrases("""
was ruled out | were ruled out | is ruled out | ruled out | was excluded | were excluded | excluded |
is absent | was absent | were absent | are absent | absent | not seen | not present | not detected |
was negative | were negative | is negative | not noted | not observed | unlikely | resolved |
not found | free
""")
PSEUDO = _phrases("""
no increase | no change | no significant change | not only | not necessarily | not certain if |
without difficulty | without any further | not rule out | not ruled out | not been ruled out |
not excluded | cannot be excluded | cannot rule out | can not rule out | not exclude |
no further | gram negative | not drain | no longer
""")
FAMILY_PRE = _phrases("""
family history of | family history | family hx of | fhx | fh of | mother | father | mom | dad | parent |
parents | brother | brothers | sister | sisters | sibling | siblings | sib | sibs | aunt | uncle |
cousin | cousins | grandmother | grandfather | grandparent | grandparents | maternal | paternal |
son | daughter | twin | relatives | relative | family members | family member | niece | nephew |
half-brother | half-sister
""")
FAMILY_POST = _phrases("""
in the family | in his family | in her family | in family | runs in the family | in relatives |
in his mother | in her mother | in his father | in her father | in his brother | in her brother |
in his sister | in her sister | in siblings | in a sibling | in the mother | in the father
""")
HYPOTHETICAL_PRE = _phrases("""
rule out | to rule out | r/o | evaluate for | evaluation for | evaluated for | assess for | assessment for |
screen for | screening for | screened for | monitor for | monitoring for | watch for | risk of | risk for |
at risk of | at risk for | if | in case of | should | return if | call if | prevent | prevention of |
prophylaxis | prophylaxis for | concern for | concerning for | possible | possibly | probable | suspected |
suspicion of | suspicious for | questionable | question of | cannot rule out | cannot be excluded |
may have | might have | may develop | could develop | likelihood of | workup for | work up for | consider |
considered | differential diagnosis | differential includes | versus | vs
""")
HYPOTHETICAL_POST = _phrases("""
cannot be excluded | cannot be ruled out | not ruled out | not excluded | is suspected | was suspected |
are suspected | is possible | is likely | was considered | should be considered | may develop |
could develop | is a risk
""")
# Said just after a finding, these confirm it: "evaluated for seizures, which persist" is no hypothesis.
CONFIRMED_POST = _phrases("""
which persists | which persist | which persisted | which continues | which continue | persists | persist |
persisted | which was confirmed | which were confirmed | was confirmed | were confirmed | is confirmed |
are confirmed | confirmed | which remains | which remain | remains present | is still present | still present
""")
HISTORICAL_PRE = _phrases("""
history of | hx of | h/o | past history of | past medical history of | status post | s/p | prior | previous |
previously | in the past | formerly | as a child | as an infant | childhood history of
""")
TERMINATORS = _phrases("""
but | however | although | though | yet | except | apart from | aside from | which | whose |
secondary to | due to | because | since | cause of | source of | etiology of | reason for | while |
whereas
""")
# A new clause about the patient ends a negation or hypothesis ("denies pain, has ataxia"), but
# not a relative's finding ("mother has hearing loss"); the patient as subject ends the latter.
CLAUSE_TERMINATORS = _phrases("""
who | presents | presented | presenting | patient | pt | has | have | had | shows | showed | reports |
reported | complains | complained | is noted | was noted | now | currently | still
""")
FAMILY_TERMINATORS = _phrases("""
patient | pt | proband | our patient | the child | the boy | the girl | he | she | himself | herself
""")
# A relative who tells the history is the informant, not the experiencer ("parents report seizures",
# "per mother, ..."): paediatric notes are written that way. Their family trigger is dropped;
# a relative named after it ("mother reports that her brother had seizures") still counts.
_INFORMANTS = r"(?:mother|father|mom|dad|parents?|grandmother|grandfather|grandparents?|caregivers?|guardians?|family)"
_REPORTING = (r"(?:reports?|reported|reporting|states?|stated|notes?|noted|noticed|has\s+noticed|have\s+noticed|"
              r"describes?|described|says|said|mentions?|mentioned|endorses?|endorsed|denies|denied|deny|"
              r"observed|observes|(?:is|are|was|were)\s+(?:concerned|worried)\s+(?:about|for|that)|brings?|brought)")
INFORMANT = re.compile(
    rf"(?<![\w/])(?:(?:per|according\s+to|as\s+reported\s+by|as\s+per)\s+(?:the\s+|his\s+|her\s+|their\s+)?{_INFORMANTS}"
    rf"|{_INFORMANTS}\s+{_REPORTING}(?!\s+to\s+(?:have|be)\b))(?![\w/])", re.IGNORECASE)
SECTION_FAMILY = re.compile(r"(?im)^[ \t]*(?:family\s+(?:medical\s+)?history|fhx|fh)[ \t]*:")
SECTION_HEADING = re.compile(r"(?m)^[ \t]*[A-Z][A-Za-z /&]{2,40}:|\n[ \t]*\n")
SENTENCE_END = re.compile(r"[.!?;](?=\s|$)|\n(?=[ \t]*(?:[A-Z0-9•*\-]|\n))|\n\s*\n")
POST_SCOPE_WORDS = 4

_COMPILED: dict[str, re.Pattern] = {
    name: re.compile(pattern, re.IGNORECASE)
    for name, pattern in {
        "neg_pre": NEGATION_PRE, "neg_post": NEGATION_POST, "pseudo": PSEUDO,
        "fam_pre": FAMILY_PRE, "fam_post": FAMILY_POST,
        "hyp_pre": HYPOTHETICAL_PRE, "hyp_post": HYPOTHETICAL_POST, "confirmed_post": CONFIRMED_POST,
        "hist_pre": HISTORICAL_PRE, "term": TERMINATORS, "term_clause": CLAUSE_TERMINATORS,
        "term_family": FAMILY_TERMINATORS,
    }.items()
}


# The same patterns for ASCII text (most notes): re.ASCII makes IGNORECASE fold ASCII letters only,
# a third faster over the development population's 1,580 notes (0.86 -> 0.55 s for all twelve), and
# on ASCII text, with patterns that are ASCII themselves, it finds exactly the same spans.
_COMPILED_ASCII: dict[str, re.Pattern] = {
    name: re.compile(pattern.pattern, re.IGNORECASE | re.ASCII) for name, pattern in _COMPILED.items()
}


class Context:
    """Trigger, terminator, sentence and section positions of one text, for span lookups."""

    def __init__(self, text: str):
        self.text = text
        self.sentence_ends = [m.end() for m in SENTENCE_END.finditer(text)]
        compiled = _COMPILED_ASCII if text.isascii() else _COMPILED
        pseudo = [(m.start(), m.end()) for m in compiled["pseudo"].finditer(text)]
        # An informant ("parents report") is a pseudo-trigger for the family kind only.
        family_pseudo = sorted(pseudo + [(m.start(), m.end()) for m in INFORMANT.finditer(text)])
        self.triggers = {
            name: self._spans(pattern, family_pseudo if name == "fam_pre" else pseudo)
            for name, pattern in compiled.items() if name != "pseudo"
        }
        self.family_sections = self._family_sections(text)

    def _spans(self, pattern: re.Pattern, pseudo: list[tuple[int, int]]) -> list[tuple[int, int]]:
        """Trigger spans, minus those inside a pseudo-trigger ("no increase" is not a negation)."""
        out = []
        for m in pattern.finditer(self.text):
            k = bisect.bisect_right(pseudo, (m.start(), len(self.text)))
            if k and pseudo[k - 1][0] <= m.start() and m.end() <= pseudo[k - 1][1]:
                continue
            out.append((m.start(), m.end()))
        return out

    def sentence(self, pos: int) -> tuple[int, int]:
        """Start and end offsets of the sentence holding ``pos``."""
        k = bisect.bisect_right(self.sentence_ends, pos)
        start = self.sentence_ends[k - 1] if k else 0
        end = self.sentence_ends[k] if k < len(self.sentence_ends) else len(self.text)
        return start, end

    def forward(self, name: str, start: int, end: int, stop: str = "term_clause") -> bool:
        """A pre-trigger of ``name`` earlier in the sentence whose scope reaches the span
        (no terminator, common or of kind ``stop``, in between)."""
        s0, _ = self.sentence(start)
        spans = self.triggers[name]
        k = bisect.bisect_left(spans, (s0, -1))
        while k < len(spans) and spans[k][1] <= start:
            t_end = spans[k][1]
            if not self._terminated(t_end, start, stop):
                return True
            k += 1
        return False

    def backward(self, name: str, start: int, end: int, stop: str = "term_clause") -> bool:
        """A post-trigger of ``name`` a few words after the span, in the same sentence."""
        _, s1 = self.sentence(start)
        spans = self.triggers[name]
        k = bisect.bisect_left(spans, (end, -1))
        if k < len(spans) and spans[k][1] <= s1:
            gap = self.text[end:spans[k][0]]
            return len(gap.split()) <= POST_SCOPE_WORDS and not self._terminated(end, spans[k][0], stop)
        return False

    def _terminated(self, a: int, b: int, stop: str) -> bool:
        """Whether a common terminator or one of kind ``stop`` lies between offsets ``a`` and ``b``."""
        for name in ("term", stop):
            spans = self.triggers[name]
            k = bisect.bisect_left(spans, (a, -1))
            if k < len(spans) and spans[k][1] <= b:
                return True
        return False

    def in_family_section(self, pos: int) -> bool:
        """Whether ``pos`` lies under a "Family history:" heading."""
        return any(a <= pos < b for a, b in self.family_sections)

    @staticmethod
    def _family_sections(text: str) -> list[tuple[int, int]]:
        """Family-history sections: from the heading to the next heading or blank line."""
        out = []
        for m in SECTION_FAMILY.finditer(text):
            nxt = SECTION_HEADING.search(text, m.end())
            out.append((m.start(), nxt.start() if nxt else len(text)))
        return out

    def flags(self, start: int, end: int) -> dict[str, bool]:
        """The Mention flags for a span."""
        return {
            "negated": self.forward("neg_pre", start, end) or self.backward("neg_post", start, end),
            "family": self.in_family_section(start)
            or self.forward("fam_pre", start, end, "term_family")
            or self.backward("fam_post", start, end, "term_family"),
            "hypothetical": (self.forward("hyp_pre", start, end) or self.backward("hyp_post", start, end))
            and not self.backward("confirmed_post", start, end),
            "historical": self.forward("hist_pre", start, end),
        }
