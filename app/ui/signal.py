"""The suggestions panel in words and pictures (pure): P(rare) as a sentence, each suggestion's
probability in plain words, each finding's likelihood ratio for it against the general population
as a bar drawn server-side (SVG), and what tells it apart from the next candidate
(``app.rank.explain``).

Everything here is plain data for ``templates/chart.html`` and ``templates/macros.html``; the
templates escape every label (they come from the record and the knowledge base).
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

from .. import pipeline
from ..pipeline import Analysis
from ..present import explains, finite, percent, unit
from ..rank.posterior import RARE_SHARE

CLIP = 2.0  # bars are drawn up to log10 LR ±2 (×100, ×0.01); the text still says the real value
NEUTRAL = math.log10(1.05)  # |log10 LR| below this (LR between 1/1.05 and 1.05) hardly changes the disease
OPEN_MAX = 12  # the top suggestion's bars show open when there are at most this many (else one click)
MAX_LABEL = 30  # characters of a finding's label drawn in the chart; the full label is in its title
LABEL_W, HALF, VALUE_W, ROW, BAR_H, HEAD = 190, 130, 56, 16, 9, 14  # chart geometry, px


def odds_phrase(p: float, n: int) -> str:
    """``p`` in natural frequencies with the number of findings behind it: "about 1 in 8 given these 14 findings".

    Friendly numbers only (1 in 4–20 exact, then to 5s, then to 50s); "N in 10" from 1 in 4 up;
    never "1 in 1" below certainty; under 1 in 1,000 it says so rather than invent precision.
    """
    return f"{_frequency(unit(p))} {_given(n)}"


def _frequency(p: float) -> str:
    if p >= 0.99:
        return "more than 99 in 100"
    if p >= 0.95:
        return "about 19 in 20"
    if p >= 0.25:
        return f"about {min(9, math.floor(10 * p + 0.5))} in 10"
    if p < 0.001:
        return "less than 1 in 1,000"
    k = 1 / p
    step = 1 if k < 20 else 5 if k < 100 else 50
    return f"about 1 in {step * math.floor(k / step + 0.5):,}"


def _given(n: int) -> str:
    if n == 1:
        return "given this one finding"
    return f"given these {n} findings" if n else "given no findings"


def finding_anchor(hpo: str) -> str:
    """The id of a present finding's row in the phenotype profile (``HP:0001166`` → ``finding-HP-0001166``)."""
    return "finding-" + re.sub(r"[^A-Za-z0-9]", "-", str(hpo))


def lr_text(log10_lr: float) -> str:
    """The likelihood ratio itself, rounded for reading: ``"×1.3"``, ``"×37"``, ``"×0.25"``.

    Only a neutral finding reads ``"×1.0"``: a raise or a lowering never rounds to it.
    """
    if abs(log10_lr) < NEUTRAL:
        return "×1.0"
    lr = 10 ** log10_lr
    if lr >= 10:
        return f"×{lr:,.0f}"
    if lr >= 1:
        return f"×{lr:.2f}" if lr < 1.1 else f"×{lr:.1f}"
    return "×<0.001" if lr < 0.001 else f"×{lr:.2g}"


@dataclass(frozen=True)
class Bar:
    """One finding's row in a chart: where its bar is drawn and what it says."""

    hpo: str
    label: str  # full label (title, aria-label)
    short: str  # as drawn
    href: str | None  # "#finding-…" in the phenotype profile, None when the finding is not listed there
    direction: str  # "raises", "lowers" or "neutral"
    x: float
    width: float
    y: float  # top of the row
    lr: str
    text: str  # "Ectopia lentis: raises it, LR ×1.3"; against a rival "…: favours it over <rival>, LR ×20"

    @property
    def bar_y(self) -> float:
        """Top of the bar, centred in its row."""
        return self.y + (ROW - BAR_H) / 2

    @property
    def text_y(self) -> float:
        """Baseline of the row's texts."""
        return self.y + ROW - 4


@dataclass(frozen=True)
class Chart:
    """Per-finding likelihood-ratio bars of one suggestion, with its size and zero line."""

    bars: list[Bar]
    left: str = "← lowers"  # axis words over the bars
    right: str = "raises →"
    kind: str = ""  # "lr-apart" for what tells a suggestion apart from another (a CSS class)
    width = LABEL_W + 2 * HALF + VALUE_W
    zero = LABEL_W + HALF
    label_x = LABEL_W - 6
    value_x = LABEL_W + 2 * HALF + 6
    bar_h, row = BAR_H, ROW
    head_y = HEAD - 4  # baseline of the "lowers" / "raises" words over the bars
    top = HEAD - 2  # the zero line starts just under them

    @property
    def height(self) -> int:
        """Header row plus one row per finding."""
        return HEAD + ROW * len(self.bars) + 2


def bar_rows(evidence: list[dict], listed: set[str] = frozenset(), rival: str | None = None) -> list[Bar]:
    """Evidence (``{"hpo", "label", "log10_lr"}``, ``"excluded"`` where the disease is known not to
    have the finding) → bars, strongest raise first.

    A bar runs right of the zero line (raises the disease) or left (lowers it), its length
    proportional to log10 LR, clipped at ±``CLIP``. ``listed`` are the hpo ids with a row in the
    phenotype profile: those bars link to it. With ``rival`` (another disease's name) the ratios are
    between the two diseases and the words say which one each finding favours.
    """
    items = sorted(evidence, key=lambda e: -finite(e.get("log10_lr")))
    out = []
    for i, e in enumerate(items):
        v = finite(e.get("log10_lr"))
        direction = "neutral" if abs(v) < NEUTRAL else "raises" if v > 0 else "lowers"
        width = 0.0 if direction == "neutral" else max(1.0, round(HALF * min(abs(v), CLIP) / CLIP, 1))
        zero = LABEL_W + HALF
        label = str(e.get("label") or e.get("hpo") or "")
        lr = lr_text(v)
        if rival:
            words = {"raises": f"favours it over {rival}", "lowers": f"favours {rival}",
                     "neutral": f"fits it and {rival} alike"}[direction]
        else:
            words = {"raises": "raises it", "lowers": "lowers it", "neutral": "hardly changes it"}[direction]
            if e.get("excluded"):
                words = f"known not to occur with it, {words}"
        out.append(Bar(hpo=str(e.get("hpo", "")), label=label,
                       short=label if len(label) <= MAX_LABEL else label[:MAX_LABEL - 1].rstrip() + "…",
                       href=f"#{finding_anchor(e['hpo'])}" if e.get("hpo") in listed else None,
                       direction=direction, x=zero - width if direction == "lowers" else zero, width=width,
                       y=HEAD + i * ROW, lr=lr, text=f"{label}: {words}, LR {lr}"))
    return out


@dataclass(frozen=True)
class Row:
    """One suggestion as the panel shows it."""

    s: object  # app.rank.ranker.Suggestion
    percent: str
    phrase: str
    chart: Chart | None
    open: bool = False  # its bars show without a click
    rival: str | None = None  # the next candidate it is told apart from (``apart``: the findings that do)
    apart: Chart | None = None


@dataclass(frozen=True)
class Explained:
    """A documented rare diagnosis as the panel says it first: the disease (its link) and what it explains."""

    disease: object  # app.rank.documented.Documented
    text: str  # explained_text


def explained_text(d) -> str:
    """What a documented diagnosis (``Documented``) explains, to follow its name: "explains 4 of 7
    findings: A, B. Not explained: C" (the chart writes "Documented diagnosis <name> " before it)."""
    return explains([f["label"] for f in d.explained], [f["label"] for f in d.unexplained], d.annotated)


@dataclass(frozen=True)
class Panel:
    """What the suggestions panel says: its state, the sentence at the top, and the rows.

    ``state``: "too_few" (today's message), "empty" (no match), "flagged" (P(rare) passes the
    flag threshold: the list is shown), "low" (below it: the list only on request),
    "unassessed" (no P(rare): the list as before) or "explained" (the documented rare diagnoses
    explain every weighed finding: nothing is left for another). ``documented`` comes first, always.
    """

    state: str
    level: str | None = None  # "warning" / "info" when flagged
    headline: str = ""
    rows: list[Row] = field(default_factory=list)
    documented: list[Explained] = field(default_factory=list)
    steps: list[tuple[str, str]] = field(default_factory=list)  # (what to do, its probability) when flagged


def panel(analysis: Analysis, thresholds) -> Panel:
    """The panel for ``analysis`` under the flag thresholds (``CdsThresholds``) every door shares."""
    documented = [Explained(d, explained_text(d)) for d in analysis.documented]
    if analysis.too_few:
        return Panel("too_few", documented=documented)
    if documented and not analysis.findings:
        return Panel("explained", headline="Nothing is left unexplained for another rare disease to account for",
                     documented=documented)
    if not analysis.suggestions:
        return Panel("empty", documented=documented)
    n = analysis.findings
    listed = {p.hpo for p in analysis.profile.present}
    rows = [Row(s, percent(s.probability), odds_phrase(s.probability, n),
                Chart(bar_rows(s.evidence, listed)) if s.evidence else None,
                open=i == 0 and len(s.evidence) <= OPEN_MAX, **_apart(s, listed))
            for i, s in enumerate(analysis.suggestions)]
    p = analysis.rare_probability
    if p is None:
        return Panel("unassessed", rows=rows, documented=documented)
    level = pipeline.signal(analysis, thresholds)
    steps = [(step.text, percent(step.probability)) for step in analysis.steps]
    if level and documented:
        names = " and ".join(d.name for d in analysis.documented)
        it = "they do" if len(analysis.documented) > 1 else "it does"
        return Panel("flagged", level, f"Another rare-disease pattern beside {names}: probability {percent(p)} "
                     f"{_given(n)} {it} not explain", rows, documented, steps)
    if level:
        return Panel("flagged", level, f"Rare-disease pattern: probability {percent(p)} {_given(n)}", rows, steps=steps)
    return Panel("low", headline=_low_headline(analysis, thresholds), rows=rows, documented=documented)


def _apart(s, listed: set[str]) -> dict:
    """The ``rival`` and ``apart`` of a suggestion's :class:`Row` from its ``contrast`` (none without one)."""
    contrast = getattr(s, "contrast", None)
    if not contrast:
        return {}
    rival = str(contrast.get("name") or "the next candidate")
    bars = bar_rows(contrast.get("findings") or [], listed, rival)
    return {"rival": rival, "apart": Chart(bars, "← favours the other", "favours it →", "lr-apart") if bars else None}


def _low_headline(analysis: Analysis, thresholds) -> str:
    p = analysis.rare_probability
    why = "about the base rate" if p <= 2 * RARE_SHARE else f"below the {percent(thresholds.min_probability)} flag threshold"
    if analysis.documented:
        if analysis.explained_share >= pipeline.MOSTLY_EXPLAINED:
            why = f"the documented diagnosis explains {percent(analysis.explained_share)} of the findings"
        return (f"No further rare-disease pattern in this record (probability {percent(p)} from the "
                f"{analysis.findings} findings not explained, {why})")
    if analysis.known_probability >= thresholds.min_probability:
        return (f"No further rare-disease pattern in this record (probability {percent(p)}, {why}): the findings "
                f"fit the rare disease already on the problem list ({percent(analysis.known_probability)})")
    return f"No rare-disease pattern in this record (probability {percent(p)}, {why})"
