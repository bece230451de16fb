"""Edge-case patients for the sandbox: empty chart, huge note, malformed attachments, many labs, busy chart."""
from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta

from . import text as words
from .chart import (
    TODAY,
    Chart,
    abnormal_value,
    add_document,
    add_header,
    add_note,
    attachment,
    lab_observation,
    normal_value,
    note_sections,
    to_bundle,
)
from .knowledge import Knowledge
from .patient import noise_codes, synthesize

BIG_NOTE_BYTES = 5 * 1024 * 1024
MANY_LABS = 3000
BUSY_LABS, BUSY_NOTES = 500, 20


def edge_bundles(spare: dict, knowledge: Knowledge, seed: int) -> list[tuple[dict, str, dict | None]]:
    """Return (bundle, patient id, truth or None) for each edge-case patient."""
    rng = random.Random(f"{seed}:edge")
    many_labs, many_labs_truth = many_labs_patient(rng)
    busy, busy_truth = busy_patient(spare, knowledge, rng)
    return [
        (empty_patient(rng), "edge-empty", None),
        (big_note_patient(rng), "edge-bignote", None),
        (malformed_patient(rng), "edge-malformed", None),
        (many_labs, "edge-manylabs", many_labs_truth),
        (busy, "edge-busy", busy_truth),
    ]


def blank_chart(pid: str, rng: random.Random, header: bool = True) -> Chart:
    """A chart for an adult with no findings, with Patient (and Practitioner and Encounter)."""
    visit = TODAY - timedelta(days=rng.randint(1, 30))
    chart = Chart(pid=pid, rng=rng, birth=date(1979, 4, 12), visit=visit, sex=rng.choice(["female", "male"]))
    add_header(chart)
    if not header:
        chart.resources = chart.resources[:1]
    return chart


def empty_patient(rng: random.Random) -> dict:
    """edge-empty: a Patient and nothing else."""
    return to_bundle(blank_chart("edge-empty", rng, header=False))


def big_note_patient(rng: random.Random) -> dict:
    """edge-bignote: one plain-text note of about 5 MB built from repeated realistic sections."""
    chart = blank_chart("edge-bignote", rng)
    blocks = []
    for index in range(12):
        sections = note_sections(chart, [], [], [], None, True, None)
        text = words.render_text(f"Progress note, interval entry {index + 1}", sections) + "\n"
        # A multiple of 3 bytes keeps each block's base64 aligned, so gzip sees the repeats.
        blocks.append(text + " " * (-len(text.encode("utf-8")) % 3))
    body, size, index = [], 0, 0
    while size < BIG_NOTE_BYTES:
        body.append(blocks[index % len(blocks)])
        size += len(body[-1].encode("utf-8"))
        index += 1
    moment = chart.when(0)
    content = [{"attachment": attachment(chart, "text/plain", "".join(body), False, "Progress note", moment)}]
    add_document(chart, "11506-3", "Progress note", moment, content)
    return to_bundle(chart)


def malformed_patient(rng: random.Random) -> dict:
    """edge-malformed: bad base64, a url to a missing Binary, a junk PDF, and one good note."""
    chart = blank_chart("edge-malformed", rng)
    moment = chart.when(0)
    add_document(chart, "11506-3", "Progress note", moment, [{"attachment": {
        "contentType": "text/plain", "title": "Progress note", "data": "Tm90IHZhbGlk%%%base64***=="}}])
    add_document(chart, "11488-4", "Consult note", moment, [{"attachment": {
        "contentType": "text/html", "title": "Consult note", "url": "Binary/edge-malformed-bin-missing"}}])
    junk = bytes(rng.randrange(256) for _ in range(2048))
    content = [{"attachment": attachment(chart, "application/pdf", b"%PDF-1.4\n" + junk, False, "Outside records", moment)}]
    add_document(chart, "34117-2", "History and physical note", moment, content)
    add_note(chart, note_sections(chart, [], [], [], None, True, None), 1)
    return to_bundle(chart)


def many_labs_patient(rng: random.Random) -> tuple[dict, dict]:
    """edge-manylabs: 3,000 lab results over five years; CK is always high and platelets always low."""
    chart = blank_chart("edge-manylabs", rng)
    codes = ["2157-6", "777-3", "718-7", "6690-2", "2951-2", "2823-3", "2075-0", "3094-0", "2160-0", "2345-7"]
    start = datetime(chart.visit.year - 5, chart.visit.month, 1, 8, tzinfo=UTC)
    draws = MANY_LABS // len(codes)
    for draw in range(draws):
        moment = start + timedelta(days=draw * (5 * 365) // draws, hours=rng.randint(0, 9))
        for code in codes:
            if code in ("2157-6", "777-3"):
                value, flag = abnormal_value(code, "H" if code == "2157-6" else "L", rng)
            else:
                value, flag = normal_value(code, rng), "N"
            lab_observation(chart, code, moment, value, flag)
    truth = {"phenopacket": None, "diagnoses": [], "known_on_problem_list": False,
             "observed": ["HP:0003236", "HP:0001873"], "excluded": [],
             "channels": {"HP:0003236": ["lab"], "HP:0001873": ["lab"]}, "negative_channels": {}}
    return to_bundle(chart), truth


def busy_patient(packet: dict, knowledge: Knowledge, rng: random.Random) -> tuple[dict, dict]:
    """edge-busy: a real case padded to exactly 500 lab results and 20 notes with in-range noise."""
    bundle, truth = synthesize(packet, knowledge, rng, "edge-busy")
    resources = [e["resource"] for e in bundle["entry"]]
    patient = resources[0]
    chart = Chart(pid="edge-busy", rng=rng, birth=date.fromisoformat(patient["birthDate"]),
                        visit=date.fromisoformat(resources[2]["period"]["start"][:10]), sex=patient["gender"],
                        resources=resources)
    for resource in resources[3:]:
        prefix = resource["id"].rsplit("-", 2)[-2]
        chart.counts[prefix] = max(chart.counts.get(prefix, 0), int(resource["id"].rsplit("-", 1)[1]))
    labs = [r for r in resources if r["resourceType"] == "Observation"]
    used = {r["code"]["coding"][0]["code"] for r in labs}
    codes = noise_codes(knowledge, truth["observed"], used)
    for _ in range(BUSY_LABS - len(labs)):
        code = rng.choice(codes)
        lab_observation(chart, code, chart.when(4 * 365), normal_value(code, rng), "N")
    notes = sum(r["resourceType"] == "DocumentReference" for r in resources)
    for _ in range(BUSY_NOTES - notes):
        add_note(chart, note_sections(chart, [], [], [], None, False, None), 1)
    return to_bundle(chart), truth
