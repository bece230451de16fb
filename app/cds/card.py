"""Whether a record deserves a card, and the card itself (pure: an analysis in, CDS Hooks JSON out)."""
from __future__ import annotations

import json
import uuid
from collections.abc import Sequence

from ..config.cds import CdsThresholds
from ..pipeline import ENGINE_LABEL, Analysis, signal
from ..present import percent

SUMMARY_MAX = 140  # CDS Hooks: the summary is at most 140 characters
# A card made from a prefetch that lacked part of the record (no fhirAuthorization to read the rest).
PREFETCH_ONLY = ", prefetched data only"
CHART_HAS_MORE = ("The chart has more: RaDaR reads the whole record there (what is listed above as not read), "
                  "so its findings and probability may differ from this card's.")
CHART_LINK = "Open the chart in RaDaR (the whole record)"
CODES_PATH = "/cds-services/codes"  # the code systems the card uses live under the app's public URL
CODES = {
    "topic": ("RaDaR card topics", [("radar-rare-disease-screen", "Rare-disease screen")]),
    "override": ("RaDaR override reasons", [("already-considered", "Already considered"),
                                            ("not-relevant", "Not relevant")]),
}


def decide(analysis: Analysis, thresholds: CdsThresholds) -> dict | None:
    """Whether the record carries a rare-disease signal, and how strong: ``{"indicator"}`` or None.

    The one decision every door shares (``app.pipeline.signal``): a card only when P(rare) reaches
    ``thresholds.min_probability``, a warning from ``thresholds.warning_probability`` on.
    """
    indicator = signal(analysis, thresholds)
    return None if indicator is None else {"indicator": indicator}


def summary_line(analysis: Analysis, label: str = "") -> str:
    """``Rare-disease pattern (62%): Marfan syndrome 31% (+2 more)``, at most 140 characters.

    A long name is shortened, never the probabilities: they are what the line is for. ``label``
    follows P(rare) in the brackets (``PREFETCH_ONLY``).
    """
    top = analysis.suggestions
    pattern = "Another rare-disease pattern" if analysis.documented else "Rare-disease pattern"  # beside a documented one
    head = f"{pattern} ({percent(analysis.rare_probability or 0.0)}{label}): "
    tail = f" {percent(top[0].probability)}" + (f" (+{len(top) - 1} more)" if len(top) > 1 else "")
    name = top[0].name
    room = SUMMARY_MAX - len(head) - len(tail)
    if len(name) > room:
        name = name[:room - 1].rstrip() + "…"
    return head + name + tail


def render_card(decision: dict, analysis: Analysis, case_id: str | None, base_url: str,
                gaps: Sequence[str] = (), background: str | None = None, prefetch_only: bool = False) -> dict:
    """One card: summary, detail with Orphanet links and probabilities, source, and a SMART link that opens RaDaR.

    ``base_url`` is this app's public URL: the SMART launch URL and the code systems it owns.
    ``gaps`` (``PatientRecord.gaps()``) are listed in the detail, so a card from a partial record
    says what it did not see: fewer findings must never pass for a complete record.
    ``background`` names what P(rare) was judged against (``Ranker.background_name``); by default
    the process's knowledge (``load_knowledge``, which every door shares).
    ``prefetch_only``: the record is the prefetch alone (no ``fhirAuthorization`` to read the rest).
    With gaps, the chart reads more than the card did: its probability is labelled as the prefetch's,
    never to be read as the chart's, and the card says the chart has more and links to it.
    """
    if background is None:
        from ..pipeline import load_knowledge

        background = load_knowledge().ranker.background_name
    top = analysis.suggestions
    n = len(analysis.profile.present)
    weighed = analysis.findings or n  # the findings the probability rests on (most specific terms)
    source = f"{ENGINE_LABEL}, from {n} findings in the record (problems, labs, notes)"
    if weighed != n:
        source += f"; the probability weighs the {weighed} most specific"
    partial = prefetch_only and bool(gaps)
    whose = ", from the prefetched data only (not the chart's)" if partial else ""
    lines = [source + ".",
             f"Probability of a rare disease given these {weighed} findings{whose}: "
             f"{percent(analysis.rare_probability or 0.0)}",
             f"Compared with ordinary records: {markdown_text(background, special='[]*_`<>#|')}.", ""]
    lines[:0] = documented_lines(analysis)
    for s in top:
        matches = ", ".join(markdown_text(m["label"]) for m in s.matching[:5]) or "—"
        lines.append(f"{s.rank}. [{markdown_text(s.name)}]({s.url}) — {percent(s.probability)} — matches: {matches}")
    lines += steps_lines(analysis)
    if gaps:
        # Parentheses stay: without a bracket nothing can become a link.
        lines += ["", "Not read, so not screened:"] + [f"- {markdown_text(g, special='[]*_`<>#|')}" for g in gaps]
    if partial:
        lines += ["", CHART_HAS_MORE]
    lines += ["", "Open RaDaR to review the findings and its reasoning. Decision support only."]
    link = {"label": CHART_LINK if partial else "Open RaDaR", "url": f"{base_url}/launch", "type": "smart"}
    if case_id:
        link["appContext"] = json.dumps({"case": case_id})
    return {
        "uuid": str(uuid.uuid4()),
        "summary": summary_line(analysis, PREFETCH_ONLY if partial else ""),
        "indicator": decision["indicator"],
        "detail": "\n".join(lines),
        "source": {"label": "RaDaR rare-disease navigator", "url": f"{base_url}/",
                   "topic": _codings("topic", base_url)[0]},
        "links": [link],
        "overrideReasons": _codings("override", base_url),
    }


def steps_lines(analysis: Analysis) -> list[str]:
    """"Next steps" (``app.rank.steps``): what the candidates give to do, each with the probability of
    the candidates it addresses; a warning card always has one strong enough (``pipeline.actionable``)."""
    if not analysis.steps:
        return []
    return ["", "Next steps (with the probability of the candidates each addresses):"] + [
        f"- {markdown_text(step.text)} ({percent(step.probability)})" for step in analysis.steps]


def documented_lines(analysis: Analysis) -> list[str]:
    """The card's first lines for a record whose problem list names a rare diagnosis: "Documented
    diagnosis X explains A, B; not explained: C." and that P(rare) is another rare disease's."""
    if not analysis.documented:
        return []
    out = []
    for d in analysis.documented:
        explained = ", ".join(markdown_text(f["label"]) for f in d.explained) or "none of the findings"
        missing = ", ".join(markdown_text(f["label"]) for f in d.unexplained) or "none"
        line = f"Documented diagnosis {markdown_text(d.name)} explains {explained}; not explained: {missing}."
        out.append(line if d.annotated else line + " (the knowledge base lists no findings for it)")
    return out + ["The probability below is of another rare disease, from the findings not explained.", ""]


def _codings(name: str, base_url: str) -> list[dict]:
    system = f"{base_url}{CODES_PATH}/{name}"
    return [{"system": system, "code": code, "display": display} for code, display in CODES[name][1]]


def code_system(name: str, base_url: str) -> dict | None:
    """The FHIR CodeSystem served at ``{base_url}/cds-services/codes/{name}``, or None when there is none."""
    if name not in CODES:
        return None
    title, concepts = CODES[name]
    return {"resourceType": "CodeSystem", "url": f"{base_url}{CODES_PATH}/{name}", "name": title.replace(" ", ""),
            "title": title, "status": "active", "content": "complete", "caseSensitive": True,
            "concept": [{"code": code, "display": display} for code, display in concepts]}


def markdown_text(text: str, special: str = "[]()*_`<>#|") -> str:
    """``text`` with Markdown's ``special`` characters escaped, so a name can never become a link or markup."""
    return "".join("\\" + ch if ch in special else ch for ch in text)
