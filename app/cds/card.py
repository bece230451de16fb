"""Whether a record deserves a card, and the card itself (pure: an analysis in, CDS Hooks JSON out)."""
from __future__ import annotations

import json
import uuid
from collections.abc import Sequence

from ..config.cds import CdsThresholds
from ..pipeline import ENGINE_LABEL, Analysis

SUMMARY_MAX = 140  # CDS Hooks: the summary is at most 140 characters
CODES_PATH = "/cds-services/codes"  # the code systems the card uses live under the app's public URL
CODES = {
    "topic": ("RaDaR card topics", [("radar-rare-disease-screen", "Rare-disease screen")]),
    "override": ("RaDaR override reasons", [("already-considered", "Already considered"),
                                            ("not-relevant", "Not relevant")]),
}


def decide(analysis: Analysis, thresholds: CdsThresholds) -> dict | None:
    """Whether the record carries a rare-disease signal, and how strong: ``{"indicator"}`` or None."""
    if analysis.too_few or not analysis.suggestions:
        return None
    best = len(analysis.suggestions[0].matching)
    if len(analysis.profile.present) < thresholds.min_phenotypes or best < thresholds.min_matching:
        return None
    return {"indicator": "warning" if best >= thresholds.warning_matching else "info"}


def render_card(decision: dict, analysis: Analysis, case_id: str | None, base_url: str,
                gaps: Sequence[str] = ()) -> dict:
    """One card: summary, detail with Orphanet links, source, and a SMART link that opens RaDaR.

    ``base_url`` is this app's public URL: the SMART launch URL and the code systems it owns.
    ``gaps`` (``PatientRecord.gaps()``) are listed in the detail, so a card from a partial record
    says what it did not see: fewer findings must never pass for a complete record.
    """
    top = analysis.suggestions
    n = len(analysis.profile.present)
    summary = f"Possible rare disease: {top[0].name}"
    tail = f" (+{len(top) - 1} more) — {n} findings match" if len(top) > 1 else f" — {n} findings match"
    summary = (summary + tail) if len(summary + tail) <= SUMMARY_MAX else summary[:SUMMARY_MAX - 1] + "…"
    lines = [f"{ENGINE_LABEL}, from {n} findings in the record (problems, labs, notes):", ""]
    for s in top:
        matches = ", ".join(markdown_text(m["label"]) for m in s.matching[:5]) or "—"
        lines.append(f"{s.rank}. [{markdown_text(s.name)}]({s.url}) — matches: {matches}")
    if gaps:
        # Parentheses stay: without a bracket nothing can become a link.
        lines += ["", "Not read, so not screened:"] + [f"- {markdown_text(g, special='[]*_`<>#|')}" for g in gaps]
    lines += ["", "Open RaDaR to review the findings and its reasoning. Decision support only."]
    link = {"label": "Open RaDaR", "url": f"{base_url}/launch", "type": "smart"}
    if case_id:
        link["appContext"] = json.dumps({"case": case_id})
    return {
        "uuid": str(uuid.uuid4()),
        "summary": summary,
        "indicator": decision["indicator"],
        "detail": "\n".join(lines),
        "source": {"label": "RaDaR rare-disease navigator", "url": f"{base_url}/",
                   "topic": _codings("topic", base_url)[0]},
        "links": [link],
        "overrideReasons": _codings("override", base_url),
    }


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
