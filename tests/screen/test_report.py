"""The screen's HTML report: escaped, linked to Orphanet and OMIM only, loading nothing, the same every time."""
from __future__ import annotations

import re
from html.parser import HTMLParser

from app.knowledge.diseases import ALLOWED_LINKS
from app.present import percent
from app.screen import report
from app.screen.report import csp_hash, render, write

SUMMARY = {
    "patients": 3, "flagged": 2, "warning": 1, "seconds": 150.0,
    "bad_input": {"malformed line": 2, "resource without a patient": 1},
    "bad_examples": ["Observation.000.ndjson line 7: not JSON", "Condition/c9: no subject"],
    "inputs": ["/data/export/Patient.000.ndjson"], "generated": "2026-12-01T02:00:00+00:00",
    "thresholds": {"min_probability": 0.5, "warning_probability": 0.9}, "engine": "phenotype",
    "ehr": "https://fhir.hospital.example/api/FHIR/R4", "group": "rare",
}


def suggestion(rank, name, orpha, omim, p, url=None):
    return {"rank": rank, "name": name, "orpha": orpha, "omim": omim, "probability": p,
            "url": url or (f"https://www.orpha.net/en/disease/detail/{orpha.split(':')[1]}" if orpha else None)}


def line(patient, p, *, signal=None, suggestions=(), evidence=(), findings=None, gaps=None):
    out = {"patient": patient, "rare_disease_probability": p, "flagged": signal is not None, "signal": signal,
           "findings": len(evidence) if findings is None else findings, "suggestions": list(suggestions),
           "evidence": list(evidence)}
    if gaps:
        out["gaps"] = gaps
    return out


MARFAN = suggestion(1, "Marfan syndrome", "ORPHA:558", ["OMIM:154700"], 0.62)
LINES = [
    line("rd-001", 0.9731, signal="warning", suggestions=[MARFAN, suggestion(2, "Loeys-Dietz syndrome", "ORPHA:60030",
                                                                             [], 0.11)],
         evidence=[{"hpo": "HP:0001166", "label": "Arachnodactyly", "source": "Condition/c-17"},
                   {"hpo": "HP:0001083", "label": "Ectopia lentis", "source": "DocumentReference/n-3"}],
         gaps=["Lab results could not be read"]),
    line("rd-002", 0.61, signal="info", suggestions=[suggestion(1, "Fabry disease", "ORPHA:324", [], 0.4)],
         evidence=[{"hpo": "HP:0001014", "label": "Angiokeratoma", "source": "Observation/o-5"}]),
    line("ord-001", 0.0104, findings=1, suggestions=[suggestion(1, "Sinusitis-like disorder", None, ["OMIM:100100"],
                                                               0.001)]),
]


class Page(HTMLParser):
    """Every start tag with its attributes, every piece of text with the tags open around it, and the scripts."""

    def __init__(self, html: str):
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict]] = []
        self.texts: list[tuple[tuple[str, ...], str]] = []
        self.scripts: list[str] = []
        self.styles: list[str] = []
        self.rows: list[list[str]] = []  # the worklist table's body: cells' text
        self._open: list[tuple[str, dict]] = []
        self.feed(html)
        self.close()

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if tag not in ("meta", "br", "input", "link", "img"):
            self._open.append((tag, dict(attrs)))
        if self._in_worklist_body():
            if tag == "tr":
                self.rows.append([])
            elif tag == "td":
                self.rows[-1].append("")

    def _in_worklist_body(self) -> bool:
        tags = [(t, a.get("id")) for t, a in self._open]
        return ("table", "worklist") in tags and ("tbody", None) in tags

    def handle_endtag(self, tag):
        while self._open:
            if self._open.pop()[0] == tag:
                break

    def handle_data(self, data):
        where = tuple(t for t, _ in self._open)
        if self._in_worklist_body() and "td" in where:
            self.rows[-1][-1] += data
        if where and where[-1] == "script":
            self.scripts.append(data)
        elif where and where[-1] == "style":
            self.styles.append(data)
        elif data.strip():
            self.texts.append((tuple(f"{t}#{a.get('id', '')}.{a.get('class', '')}" for t, a in self._open), data))

    def text(self) -> str:
        return " ".join(d for _, d in self.texts)

    def within(self, marker: str) -> str:
        """The text inside any element whose tag#id.class descriptor contains ``marker``."""
        return " ".join(d for where, d in self.texts if any(marker in w for w in where))

    def links(self) -> list[str]:
        return [a["href"] for t, a in self.tags if t == "a" and "href" in a]


def worklist_rows(html: str) -> list[list[str]]:
    """Each body row of the worklist table as its cells' text, whitespace folded."""
    return [[" ".join(cell.split()) for cell in row] for row in Page(html).rows]


def test_summary_table_and_flagged_details():
    html = render(LINES, SUMMARY)
    page = Page(html)
    summary = page.within('section#.summary')
    for words in ("Patients screened", "3", "Flagged", "2 (1 warning)", "2.5 minutes", "from P(rare) 50%",
                  "warning from 90%", "malformed line: 2", "resource without a patient: 1",
                  "Observation.000.ndjson line 7: not JSON", "Condition/c9: no subject",
                  "/data/export/Patient.000.ndjson", "rare", "https://fhir.hospital.example/api/FHIR/R4"):
        assert words in summary, words
    # The table: worklist order (most probable first) without any script, probabilities as the chart writes them.
    assert worklist_rows(html) == [
        ["rd-001", percent(0.9731), "warning", "2", f"Marfan syndrome {percent(0.62)}"],
        ["rd-002", "61%", "info", "1", "Fabry disease 40%"],
        ["ord-001", "1%", "", "1", "Sinusitis-like disorder <1%"],
    ]
    # A detail section for each flagged patient, none for the others, linked from the table.
    sections = [a["id"] for t, a in page.tags if t == "section" and a.get("class") == "patient"]
    assert sections == ["p-1", "p-2"]
    assert "#p-1" in page.links() and "#p-2" in page.links() and "#p-3" not in page.links()
    first = page.within("section#p-1.")
    for words in ("Marfan syndrome", "62%", "ORPHA:558", "OMIM:154700", "Loeys-Dietz syndrome", "11%",
                  "Arachnodactyly", "HP:0001166", "Condition/c-17", "Ectopia lentis", "DocumentReference/n-3",
                  "Lab results could not be read"):
        assert words in first, words
    assert "Observation/o-5" in page.within("section#p-2.") and "Observation/o-5" not in first
    assert "ord-001" not in page.within("section#")
    assert "https://www.orpha.net/en/disease/detail/558" in page.links()
    assert "https://omim.org/entry/154700" in page.links()


def test_a_flagged_patients_section_gives_the_next_steps_and_the_documented_diagnosis():
    flagged = {**LINES[0], "next_steps": [
        {"kind": "test", "text": "Test for <b>high CK</b>", "probability": 0.31, "diseases": ["A", "B"]},
        {"kind": "candidate", "text": "Consider Marfan syndrome", "probability": 0.62, "diseases": ["Marfan syndrome"]}],
        "documented": [{"name": "Ehlers-Danlos <i>syndrome</i>", "orpha": "ORPHA:98249", "omim": None, "source": "Condition/c1",
                        "annotated": True, "explained": [{"hpo": "HP:1", "label": "x"}],
                        "unexplained": [{"hpo": "HP:2", "label": "y"}, {"hpo": "HP:3", "label": "z"}]},
                       {"name": "Immunodeficiency 126", "orpha": None, "omim": "OMIM:620931", "source": "Condition/c2",
                        "annotated": False, "explained": [], "unexplained": [{"hpo": "HP:2", "label": "y"}]}]}
    page = Page(render([flagged], SUMMARY))
    text = page.text()
    assert "Test for <b>high CK</b> (31%)" in text and "Consider Marfan syndrome (62%)" in text
    assert "Ehlers-Danlos <i>syndrome</i> (on the problem list) explains 1 of 3 findings" in text
    # The chart's wording: the findings named, and no "explains 0" for a diagnosis the knowledge cannot judge.
    assert "explains 1 of 3 findings: x. Not explained: y, z" in text
    assert ("Immunodeficiency 126 (on the problem list) has no findings in the knowledge base, so which of the 1 "
            "findings it explains cannot be told") in text
    assert [t for t, _ in page.tags if t in ("b", "i")] == []


def test_hostile_values_are_text():
    script = "<script>alert('x')</script>"
    hostile = [line(script, 0.95, signal="warning", suggestions=[
        suggestion(1, '"><img src=x onerror=alert(1)>', 'ORPHA:1"><script>alert(2)</script>',
                   ['OMIM:" onclick="alert(3)'], 0.5, url="javascript:alert(4)"),
        suggestion(2, "Quote's \"disease\"", "ORPHA:77", [], 0.2,
                   url='https://www.orpha.net/en/disease/detail/77" onmouseover="alert(5)'),
        suggestion(3, "Look-alike", None, [], 0.1, url="https://www.orpha.net.evil.example/x"),
    ], evidence=[{"hpo": "HP:0000001", "label": "<b onmouseover=alert(6)>bold</b>",
                  "source": "Observation/</td><script>alert(7)</script>"}])]
    summary = {**SUMMARY, "group": "</title><script>alert(8)</script>", "bad_examples": ["<svg onload=alert(9)>"],
               "bad_input": {"<i>kind</i>": 1}, "inputs": ["javascript:alert(10)"]}
    html = render(hostile, summary)
    page = Page(html)
    # One script (the sorter), no injected element, no event handler, no javascript: anywhere in an attribute.
    assert len(page.scripts) == 1 and "alert" not in page.scripts[0]
    assert [t for t, _ in page.tags if t in ("img", "svg", "b", "i", "iframe", "object")] == []
    for tag, attrs in page.tags:
        assert not [k for k in attrs if k.startswith("on")], (tag, attrs)
        assert not any("javascript:" in (v or "").lower() for v in attrs.values()), (tag, attrs)
    # Each hostile value is shown, as text.
    text = page.text()
    for value in (script, '"><img src=x onerror=alert(1)>', "Quote's \"disease\"", "<b onmouseover=alert(6)>bold</b>",
                  "Observation/</td><script>alert(7)</script>", "<svg onload=alert(9)>", "<i>kind</i>: 1",
                  "javascript:alert(10)"):
        assert value in text, value
    assert "</title><script>alert(8)</script>" in page.within("title#")
    # Names with a disallowed url are not links; a code that does not make a clean page URL is not a link either.
    assert all(h.startswith("#") or h.startswith(ALLOWED_LINKS) for h in page.links())
    assert not any("evil" in h or '"' in h or "<" in h for h in page.links())
    names_linked = [d for where, d in page.texts if any(w.startswith("a#") for w in where)]
    assert '"><img src=x onerror=alert(1)>' not in names_linked and "Look-alike" not in names_linked
    assert "Quote's \"disease\"" not in names_linked  # its url breaks out of the attribute
    assert "ORPHA:77" in names_linked  # its code still gives the Orphanet page
    assert "https://www.orpha.net/en/disease/detail/77" in page.links()


def test_nothing_is_loaded_from_anywhere():
    html = render(LINES, SUMMARY)
    page = Page(html)
    for tag, attrs in page.tags:
        assert "src" not in attrs and "srcset" not in attrs and "action" not in attrs, (tag, attrs)
        assert tag not in ("link", "img", "iframe", "object", "embed", "base", "form"), tag
        if "href" in attrs:
            assert attrs["href"].startswith("#") or attrs["href"].startswith(ALLOWED_LINKS), attrs["href"]
            if not attrs["href"].startswith("#"):
                assert attrs.get("rel") == "noopener noreferrer", attrs
    assert not re.search(r"url\(|@import", "".join(page.styles))
    assert not re.search(r"https?:|fetch\(|XMLHttpRequest|import\(", "".join(page.scripts))
    # The page's own policy forbids loading anything and allows only its own style and script, by hash.
    csp = next(a["content"] for t, a in page.tags if t == "meta" and a.get("http-equiv") == "Content-Security-Policy")
    assert "default-src 'none'" in csp
    assert f"script-src {csp_hash(page.scripts[0])};" in csp and f"style-src {csp_hash(page.styles[0])};" in csp
    assert "unsafe-inline" not in csp
    assert not [a for t, a in page.tags if "style" in a]  # inline style attributes would be blocked


def test_max_rows_keeps_the_first_and_says_how_many_are_left_out():
    lines = [line(f"p-{i:03d}", 0.99 - i / 100, signal="info" if i < 4 else None) for i in range(10)]
    html = render(iter(lines), {**SUMMARY, "patients": 10}, max_rows=3)
    assert [r[0] for r in worklist_rows(html)] == ["p-000", "p-001", "p-002"]
    note = Page(html).within("p#truncated.")
    assert "first 3 patients; 7 more (1 of them flagged) are in the worklist file only" in note
    assert "p-003" not in html
    full = render(lines, SUMMARY)
    assert len(worklist_rows(full)) == 10 and 'id="truncated"' not in full


def test_empty_worklist_and_sparse_summary():
    html = render([], {})
    page = Page(html)
    assert "No patients." in page.text() and 'id="worklist"' not in html
    assert "Bad input none" in " ".join(page.within("section#.summary").split())


def test_deterministic_and_written(tmp_path):
    first = render(LINES, SUMMARY)
    assert first == render([dict(x) for x in LINES], dict(SUMMARY))
    path = write(tmp_path / "worklist.html", LINES, SUMMARY, max_rows=2)
    assert path.read_text(encoding="utf-8") == render(LINES, SUMMARY, max_rows=2)
    assert first.startswith("<!DOCTYPE html>") and report.TEMPLATE == "screen_report.html"


def test_in_a_browser_it_sorts_under_its_own_policy_and_loads_nothing(chromium, tmp_path):
    """Chromium enforces the page's CSP: the pinned script runs (the table sorts), nothing else is fetched."""
    path = write(tmp_path / "worklist.html", LINES, SUMMARY)
    page = chromium.new_page()
    requests, problems = [], []
    page.on("request", lambda r: requests.append(r.url))
    page.on("console", lambda m: problems.append(m.text) if m.type in ("error", "warning") else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.goto(path.as_uri())

    def patients():
        return page.locator("#worklist tbody tr td:first-child").all_inner_texts()

    assert patients() == ["rd-001", "rd-002", "ord-001"]
    page.get_by_role("button", name="P(rare)").click()  # it starts most probable first: now the other way
    assert patients() == ["ord-001", "rd-002", "rd-001"]
    assert page.locator("th[aria-sort]").get_attribute("aria-sort") == "ascending"
    page.get_by_role("button", name="Patient").click()  # text: A to Z first
    assert patients() == ["ord-001", "rd-001", "rd-002"]
    page.get_by_role("button", name="Patient").click()
    assert patients() == ["rd-002", "rd-001", "ord-001"]
    page.get_by_role("button", name="Findings").click()  # numbers: most first, ties in worklist order
    assert patients() == ["rd-001", "rd-002", "ord-001"]
    assert requests == [path.as_uri()] and problems == []
    page.close()
    # Without JavaScript it is the same table in worklist order, headers as plain text.
    context = chromium.new_context(java_script_enabled=False)
    plain = context.new_page()
    plain.goto(path.as_uri())
    assert plain.locator("#worklist tbody tr td:first-child").all_inner_texts() == ["rd-001", "rd-002", "ord-001"]
    assert plain.locator("#worklist th button").count() == 0
    context.close()
