"""Tests for the synthetic patient generator: pure function on mini fixtures, plus the committed data."""
from __future__ import annotations

import base64
import binascii
import gzip
import json
import random
import re
from pathlib import Path

import pytest
from fhirclient.models.fhirelementfactory import FHIRElementFactory

from dev import synth
from dev.synth.knowledge import LAB_TESTS, Term, make_knowledge, parse_obo

DATA = Path(__file__).resolve().parent.parent / "dev" / "data"
NEGATIVE_LEAD = re.compile(r"^(No |Denies |Negative for |There is no evidence of |No history of )|: absent\.$")

TERMS = [
    Term("HP:0000118", "Phenotypic abnormality"),
    Term("HP:0012443", "Abnormal brain morphology", parents=("HP:0000118",)),
    Term("HP:0001302", "Pachygyria", snomed="38180006", parents=("HP:0012443",)),
    Term("HP:0001250", "Seizure", synonyms=("Seizures",), snomed="91175000", parents=("HP:0000118",)),
    Term("HP:0001263", "Global developmental delay", abbreviations=("GDD",), snomed="224958001", parents=("HP:0000118",)),
    Term("HP:0003236", "Elevated circulating creatine kinase concentration", parents=("HP:0000118",)),
    Term("HP:0001873", "Thrombocytopenia", snomed="302215000", parents=("HP:0000118",)),
    Term("HP:0001894", "Thrombocytosis", parents=("HP:0000118",)),
    Term("HP:0000093", "Proteinuria", snomed="29738008", parents=("HP:0000118",)),
    Term("HP:0002151", "Increased circulating lactate concentration", parents=("HP:0000118",)),
    Term("HP:0000365", "Hearing impairment", snomed="15188001", parents=("HP:0000118",)),
    Term("HP:0001252", "Hypotonia", parents=("HP:0000118",)),
]
ANNOTATIONS = [
    ("2157-6", "Qn", "H", "HP:0003236"), ("777-3", "Qn", "L", "HP:0001873"), ("777-3", "Qn", "H", "HP:0001894"),
    ("20454-5", "Ord", "POS", "HP:0000093"), ("20454-5", "Ord", "NEG", "HP:0000093"),
    ("2524-7", "Qn", "H", "HP:0002151"), ("9999-9", "Qn", "H", "HP:0001252"),
]
PACKETS = [
    {"id": "PMID_1_CASE_A", "cohort": "GENE1", "sex": "FEMALE", "age": "P6Y3M",
     "observed": [{"id": "HP:0001302", "label": "Pachygyria"}, {"id": "HP:0001250", "label": "Seizure", "onset": "P8M"},
                  {"id": "HP:0001263", "label": "Global developmental delay"},
                  {"id": "HP:0003236", "label": "Elevated circulating creatine kinase concentration"},
                  {"id": "HP:0001873", "label": "Thrombocytopenia"}, {"id": "HP:0001252", "label": "Hypotonia"},
                  {"id": "HP:9999999", "label": "Obsolete odd finding"}],
     "excluded": [{"id": "HP:0000365", "label": "Hearing impairment"}, {"id": "HP:0000093", "label": "Proteinuria"},
                  {"id": "HP:0002151", "label": "Increased circulating lactate concentration"}],
     "diagnoses": [{"id": "OMIM:100000", "label": "Zebrafoo syndrome"}]},
    {"id": "PMID_2_CASE_B", "cohort": "GENE2", "sex": "UNKNOWN_SEX", "age": None,
     "observed": [{"id": "HP:0000093", "label": "Proteinuria"}, {"id": "HP:0002151", "label": "Increased lactate"}],
     "excluded": [{"id": "HP:0001250", "label": "Seizure"}],
     "diagnoses": [{"id": "OMIM:200000", "label": "Quuxian nephropathy"}]},
]


@pytest.fixture(scope="module")
def knowledge():
    """A mini Knowledge built from hand-written terms and loinc2hpo rows."""
    return make_knowledge(TERMS, ANNOTATIONS, {"HP:0001255": "HP:0001263"})


def build(knowledge, packet, seed, known=False):
    """Synthesize one packet with a seeded rng."""
    return synth.synthesize(packet, knowledge, random.Random(seed), "rd-t", known)


def resources(bundle, kind=None):
    """The resources of a bundle, optionally of one type."""
    return [e["resource"] for e in bundle["entry"] if kind in (None, e["resource"]["resourceType"])]


def note_texts(bundle):
    """Decoded text of every note attachment and imaging report in a bundle."""
    binaries = {f"Binary/{r['id']}": r["data"] for r in resources(bundle, "Binary")}
    texts = []
    for doc in resources(bundle, "DocumentReference"):
        for content in doc["content"]:
            data = content["attachment"].get("data") or binaries[content["attachment"]["url"]]
            texts.append(base64.b64decode(data).decode("utf-8"))
    for report in resources(bundle, "DiagnosticReport"):
        texts += [base64.b64decode(f["data"]).decode("utf-8") for f in report.get("presentedForm", [])]
    return texts


def sentences(text):
    """Split a note's text (tags and RTF groups stripped) into sentences."""
    plain = re.sub(r"<[^>]+>|\\[a-z]+\d*|[{}]", " ", text)
    plain = re.sub(r"(Chief Complaint|History of Present Illness|Review of Systems|Family History|Social History|"
                   r"Medications|Vital Signs|Assessment and Plan|Exam|Indication|Comparison|Findings|Impression):",
                   ". ", plain, flags=re.IGNORECASE)
    return [s.strip() + "." for s in re.split(r"\.\s+", plain) if s.strip()]


def validate(resource):
    """Instantiate a resource with fhirclient's strict R4 model."""
    FHIRElementFactory.instantiate(resource["resourceType"], resource)


SEEDS = range(25)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("packet", PACKETS, ids=lambda p: p["id"])
def test_every_resource_is_valid_r4(knowledge, packet, seed):
    bundle, _ = build(knowledge, packet, seed, known=seed % 5 == 0)
    validate(bundle)
    for resource in resources(bundle):
        validate(resource)
        if resource["resourceType"] not in ("Patient", "Practitioner", "Binary"):
            ref = resource.get("subject") or resource.get("patient")
            assert ref == {"reference": "Patient/rd-t"}
    ids = [r["id"] for r in resources(bundle)]
    assert len(ids) == len(set(ids))


@pytest.mark.parametrize("seed", SEEDS)
def test_every_observed_term_lands_in_a_channel(knowledge, seed):
    bundle, truth = build(knowledge, PACKETS[0], seed)
    assert set(truth["channels"]) == set(truth["observed"])
    texts = " ".join(note_texts(bundle)).lower()
    conditions = resources(bundle, "Condition")
    labs = {o["code"]["coding"][0]["code"] for o in resources(bundle, "Observation")}
    for hpo_id, channels in truth["channels"].items():
        assert channels, hpo_id
        term = knowledge.term(hpo_id) or Term(hpo_id, "Obsolete odd finding")
        if "condition-snomed" in channels:
            assert any(c["code"].get("coding", [{}])[0].get("code") == term.snomed for c in conditions)
        if "lab" in channels:
            assert labs & {code for code, _ in knowledge.abnormal[hpo_id]}
        if "note" in channels or "report" in channels:
            assert any(form.lower() in texts for form in (term.label, *term.synonyms))


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("packet", PACKETS, ids=lambda p: p["id"])
def test_lab_values_match_their_flags_and_units(knowledge, packet, seed):
    bundle, _ = build(knowledge, packet, seed)
    for obs in resources(bundle, "Observation"):
        assert obs["category"][0]["coding"][0]["code"] == "laboratory"
        flag = obs.get("interpretation", [{"coding": [{"code": None}]}])[0]["coding"][0]["code"]
        if "valueCodeableConcept" in obs:
            assert flag in ("POS", "NEG")
            continue
        quantity, test = obs["valueQuantity"], LAB_TESTS[obs["code"]["coding"][0]["code"]]
        assert quantity["system"] == "http://unitsofmeasure.org" and quantity["code"] == test.unit
        value, low, high = quantity["value"], test.low, test.high
        above, below = high is not None and value > high, low is not None and value < low
        expected = {"H": above, "HH": above, "L": below, "LL": below, "N": not (above or below), None: above or below}
        assert expected[flag], (obs["code"], value, flag)


@pytest.mark.parametrize("seed", SEEDS)
def test_excluded_terms_appear_only_as_negatives(knowledge, seed):
    bundle, truth = build(knowledge, PACKETS[0], seed)
    excluded = [knowledge.term(h) for h in truth["excluded"]]
    problem_texts = " ".join(json.dumps(c["code"]) for c in resources(bundle, "Condition")).lower()
    for term in excluded:
        assert term.label.lower() not in problem_texts
        assert term.snomed is None or term.snomed not in problem_texts
    for obs in resources(bundle, "Observation"):
        code = obs["code"]["coding"][0]["code"]
        if any(code == c for t in excluded for c, _ in knowledge.negating.get(t.id, [])):
            assert obs["interpretation"][0]["coding"][0]["code"] in ("N", "NEG")
    for text in note_texts(bundle):
        for sentence in sentences(text):
            if any(t.label.lower() in sentence.lower() for t in excluded):
                assert NEGATIVE_LEAD.search(sentence), sentence
    assert set(truth["family_history"]).isdisjoint(truth["observed"])


@pytest.mark.parametrize("seed", SEEDS)
def test_diagnosis_only_on_known_charts(knowledge, seed):
    for known in (False, True):
        bundle, truth = build(knowledge, PACKETS[0], seed, known)
        text = (json.dumps(bundle) + " ".join(note_texts(bundle))).lower()
        assert ("zebrafoo" in text) is known
        assert truth["known_on_problem_list"] is known


def test_same_seed_same_output_and_other_seed_differs(knowledge):
    first = json.dumps(build(knowledge, PACKETS[0], 3))
    assert first == json.dumps(build(knowledge, PACKETS[0], 3))
    assert first != json.dumps(build(knowledge, PACKETS[0], 4))


def test_build_all_is_deterministic(knowledge):
    packets = [dict(p, cohort=f"C{i}", id=f"P{i}", diagnoses=[{"id": f"OMIM:{i}", "label": f"D{i}"}],
                    excluded=PACKETS[0]["excluded"]) for i, p in enumerate(PACKETS * 3)]
    packets = [dict(p, observed=PACKETS[0]["observed"]) for p in packets]
    first = synth.build_all(packets, knowledge, 4, seed=7)
    assert json.dumps(first) == json.dumps(synth.build_all(packets, knowledge, 4, seed=7))
    ids = [b["entry"][0]["resource"]["id"] for b in first[0]]
    assert ids[:4] == ["rd-001", "rd-002", "rd-003", "rd-004"] and "edge-busy" in ids


def test_durations_and_birth_dates():
    assert synth.duration_days("P1Y6M") == 365 + 180
    assert synth.duration_days("P10D") == 10
    assert synth.duration_days(None) is None and synth.duration_days("P") is None
    chart = synth.new_chart("x", {"age": "P2Y"}, random.Random(1))
    assert 730 <= (chart.visit - chart.birth).days <= 730 + 28
    assert chart.visit < synth.TODAY


def test_parse_obo(tmp_path):
    obo = tmp_path / "mini.obo"
    obo.write_text("format-version: 1.2\n\n[Term]\nid: HP:0001263\nname: Global developmental delay\n"
                   "alt_id: HP:0001255\nsynonym: \"GDD\" EXACT abbreviation []\n"
                   "synonym: \"Developmental delay\" EXACT layperson []\nsynonym: \"Delay\" RELATED []\n"
                   "xref: SNOMEDCT_US:224958001\nis_a: HP:0012758 ! Neurodevelopmental delay\n\n"
                   "[Term]\nid: HP:0000001\nname: gone\nis_obsolete: true\n", encoding="utf-8")
    terms, alt_ids = parse_obo(obo)
    assert terms == [Term("HP:0001263", "Global developmental delay", ("Developmental delay",), ("GDD",),
                          "224958001", ("HP:0012758",))]
    assert alt_ids == {"HP:0001255": "HP:0001263"}


@pytest.fixture(scope="module")
def committed():
    """The committed synthetic patients, by patient id."""
    with gzip.open(DATA / "patients.ndjson.gz", "rt", encoding="utf-8") as fh:
        bundles = [json.loads(line) for line in fh]
    return {b["entry"][0]["resource"]["id"]: b for b in bundles}


def test_committed_data_is_valid_and_matches_truth(committed):
    truth = json.loads((DATA / "truth.json").read_text(encoding="utf-8"))
    assert (DATA / "patients.ndjson.gz").stat().st_size < 5 * 1024 * 1024
    assert len([p for p in committed if p.startswith("rd-")]) == 64
    assert sum(t["known_on_problem_list"] for t in truth.values()) == 5
    assert {p for p in truth if p.startswith("rd-")} == {p for p in committed if p.startswith("rd-")}
    for pid, bundle in committed.items():
        if pid != "edge-bignote":
            for resource in resources(bundle):
                validate(resource)
    for record in truth.values():
        assert all(record["channels"][h] for h in record["observed"])


def test_committed_edge_cases(committed):
    assert [r["resourceType"] for r in resources(committed["edge-empty"])] == ["Patient"]
    big = resources(committed["edge-bignote"], "Binary")
    assert len(big) == 1 and len(base64.b64decode(big[0]["data"])) >= 5 * 1024 * 1024
    assert len(resources(committed["edge-manylabs"], "Observation")) == 3000
    assert len(resources(committed["edge-busy"], "Observation")) == 500
    assert len(resources(committed["edge-busy"], "DocumentReference")) == 20
    malformed = committed["edge-malformed"]
    binaries = {f"Binary/{r['id']}" for r in resources(malformed, "Binary")}
    attachments = [c["attachment"] for d in resources(malformed, "DocumentReference") for c in d["content"]]
    bad = [a for a in attachments if "data" in a]
    with pytest.raises(binascii.Error):
        base64.b64decode(bad[0]["data"], validate=True)
    assert any(a.get("url") and a["url"] not in binaries for a in attachments)
    assert any(a["contentType"] == "application/pdf" for a in attachments)
