"""The worklist as one self-contained HTML page for the rare-disease team.

``templates/screen_report.html`` renders it with Jinja2's autoescaping: patient ids, disease names
and finding labels come from the records and are never trusted. Links go to Orphanet and OMIM only
(``app.knowledge.diseases.allowed_link``, the chart's check); anything else is shown as text. The
page loads nothing: its style and its small sorting script are inline and pinned by hash in its
Content-Security-Policy, and without the script it is a plain table in worklist order.
"""
from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from itertools import islice
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup

from ..knowledge.diseases import allowed_link, omim_code, omim_url, orpha_code, orpha_url
from ..present import explains, finite, percent

TEMPLATES = Path(__file__).resolve().parent.parent.parent / "templates"
TEMPLATE = "screen_report.html"


@dataclass(frozen=True)
class Code:
    """A disease code as text, with its page when that page is an allowed link."""

    text: str
    link: str | None


@dataclass(frozen=True)
class Candidate:
    """One suggestion of a worklist line, ready to show."""

    rank: str
    name: str
    percent: str
    link: str | None
    codes: list[Code]


@dataclass(frozen=True)
class Row:
    """One worklist line as the table and its detail section show it."""

    anchor: str  # "p-<n>": patient ids are not safe as fragment ids
    order: int
    patient: str
    probability: float
    percent: str
    flagged: bool
    signal: str
    findings: int
    candidates: list[Candidate]
    evidence: list[dict]
    gaps: list[str]
    steps: list[tuple[str, str]] = ()  # (what to do, the probability of the candidates it addresses)
    documented: list[str] = ()  # "Marfan syndrome explains 4 of 6 findings" for a rare diagnosis already documented


def render(lines: Iterable[dict], summary: dict, *, max_rows: int = 2000) -> str:
    """The report page for worklist ``lines`` (already sorted, most probable first) and the run's ``summary``.

    The table shows the first ``max_rows`` lines; the rest are counted (and said to be in the
    worklist only) but not kept. Every flagged patient in the table gets a detail section.
    """
    it = iter(lines)
    rows = [row(n, line) for n, line in enumerate(islice(it, max(0, max_rows)))]
    left_out = left_out_flagged = 0
    for line in it:
        left_out += 1
        left_out_flagged += bool(_get(line, "flagged"))
    return _environment().get_template(TEMPLATE).render(
        rows=rows, flagged=[r for r in rows if r.flagged], left_out=left_out, left_out_flagged=left_out_flagged,
        summary=summary_view(summary or {}))


def write(path, lines: Iterable[dict], summary: dict, **kw) -> Path:
    """Render the report and write it to ``path`` (UTF-8); returns the path."""
    path = Path(path)
    path.write_text(render(lines, summary, **kw), encoding="utf-8")
    return path


def row(n: int, line: dict) -> Row:
    """The view of worklist line number ``n``."""
    p = finite(_get(line, "rare_disease_probability"))
    signal = _get(line, "signal")
    return Row(anchor=f"p-{n + 1}", order=n, patient=_text(_get(line, "patient")), probability=p, percent=percent(p),
               flagged=bool(_get(line, "flagged")), signal=signal if signal in ("warning", "info") else "",
               findings=int(finite(_get(line, "findings"))),
               candidates=[candidate(s) for s in _list(_get(line, "suggestions")) if isinstance(s, dict)],
               evidence=[{"hpo": _text(e.get("hpo")), "label": _text(e.get("label")), "source": _text(e.get("source"))}
                         for e in _list(_get(line, "evidence")) if isinstance(e, dict)],
               gaps=[_text(g) for g in _list(_get(line, "gaps"))],
               steps=[(_text(st.get("text")), percent(st.get("probability"))) for st in _list(_get(line, "next_steps"))
                      if isinstance(st, dict)],
               documented=[documented_text(d) for d in _list(_get(line, "documented")) if isinstance(d, dict)])


def documented_text(d: dict) -> str:
    """A documented rare diagnosis in words, as the chart says it (``present.explains``): "Marfan
    syndrome (on the problem list) explains 4 of 6 findings: A, B. Not explained: C"."""
    labels = {key: [_text(f.get("label")) for f in _list(d.get(key)) if isinstance(f, dict)]
              for key in ("explained", "unexplained")}
    return f"{_text(d.get('name'))} (on the problem list) " + explains(labels["explained"], labels["unexplained"],
                                                                       d.get("annotated") is not False)


def candidate(s: dict) -> Candidate:
    """One suggestion: its name linked only to an allowed page, its ORPHA and OMIM codes each to theirs."""
    codes = []
    if s.get("orpha") not in (None, ""):
        codes.append(Code(orpha_code(_text(s["orpha"])), allowed_link(orpha_url(_text(s["orpha"])))))
    omim = s.get("omim")
    for o in ([omim] if isinstance(omim, (str, int)) else _list(omim))[:3]:
        codes.append(Code(omim_code(_text(o)), allowed_link(omim_url(_text(o)))))
    return Candidate(rank=_text(s.get("rank")), name=_text(s.get("name")), percent=percent(s.get("probability")),
                     link=allowed_link(s.get("url")), codes=codes)


def summary_view(summary: dict) -> dict:
    """The summary box: counts, minutes, thresholds in percent, bad input by kind with examples, and
    what a live export reported about itself."""
    thresholds = summary.get("thresholds") or {}
    bad = summary.get("bad_input") or {}
    return {
        "patients": int(finite(summary.get("patients"))), "flagged": int(finite(summary.get("flagged"))),
        "warning": int(finite(summary.get("warning"))),
        "minutes": f"{finite(summary.get('seconds')) / 60:.1f}",
        "bad_input": sorted((_text(k), int(finite(v))) for k, v in bad.items()) if isinstance(bad, dict) else [],
        "bad_examples": [_text(e) for e in _list(summary.get("bad_examples"))],
        "inputs": [_text(i) for i in _list(summary.get("inputs"))],
        "min_probability": percent(thresholds.get("min_probability")) if "min_probability" in thresholds else "",
        "warning_probability": (percent(thresholds.get("warning_probability"))
                                if "warning_probability" in thresholds else ""),
        **{k: _text(summary.get(k)) for k in ("generated", "engine", "ehr", "group", "background")},
        "export": export_view(summary.get("export")),
    }


def export_view(export) -> dict | None:
    """The live export's box: its problems in words, the EHR's messages and the attachments not read
    (a few of each), its transactionTime and ``_since``; None for files."""
    if not isinstance(export, dict):
        return None
    return {"problems": export_problems(export) or "none reported",
            "error_examples": [_text(e) for e in _list(export.get("error_examples"))],
            "binary_examples": [_text(e) for e in _list(export.get("binary_examples"))],
            "transaction_time": _text(export.get("transaction_time")), "since": _text(export.get("since"))}


def export_problems(export: dict | None) -> str:
    """The export's problems counted in words (``2 errors reported by the EHR, 1 attachment not read``);
    empty when there were none. Counts only: the EHR's messages may name patients."""
    export = export if isinstance(export, dict) else {}
    counts = [(export.get("errors"), "error reported by the EHR", "errors reported by the EHR"),
              (export.get("binary_errors"), "attachment not read", "attachments not read")]
    return ", ".join(f"{n:,} {one if n == 1 else many}" for n, one, many in counts
                     if isinstance(n, int) and not isinstance(n, bool) and n > 0)


def csp_hash(text: str) -> Markup:
    """The CSP source (``'sha256-…'``) that allows exactly this inline script or style."""
    digest = hashlib.sha256(str(text).encode("utf-8")).digest()
    return Markup(f"'sha256-{base64.b64encode(digest).decode('ascii')}'")


@lru_cache(maxsize=1)
def _environment() -> Environment:
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(default=True),
                      trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
    env.filters["csp_hash"] = csp_hash
    return env


def _get(line, key):
    return line.get(key) if isinstance(line, dict) else None


def _list(value) -> list:
    return value if isinstance(value, list) else []


def _text(value) -> str:
    return "" if value is None else str(value)
