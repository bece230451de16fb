"""Ordinary made-up people with common problems, for the real-population benchmark (not a test module).

No PHI: every person is generated from a seed. Adults have 1–4 common problems, children common
developmental and ENT problems, each a problem-list Condition. A code is given only where it is a
SNOMED CT concept we are sure of (the ones Synthea and most EHRs use); the rest are text only, which
the app reads with its recogniser as it reads any free-text problem. None of these people has a
rare disease: P(rare) should stay near the base rate (0.04) and nobody should be flagged.
"""
from __future__ import annotations

import random
from datetime import date, timedelta

SNOMED = "http://snomed.info/sct"

# (text, SNOMED CT concept id or None = text only)
ADULT_PROBLEMS = [
    ("Anxiety", "48694002"),
    ("Arthralgia", "57676002"),  # Pain in joint
    ("Hearing loss", "15188001"),
    ("Hypercholesterolemia", "13644009"),
    ("Hypertension", "38341003"),  # Hypertensive disorder
    ("Depression", "35489007"),  # Depressive disorder
    ("Low back pain", "279039007"),
    ("Gastroesophageal reflux disease", "235595009"),
    ("Asthma", "195967001"),
    ("Type 2 diabetes mellitus", "44054006"),
    ("Osteoarthritis", "396275006"),
    ("Migraine", "37796009"),
    ("Insomnia", "193462001"),
    ("Obesity", "414916001"),
    ("Allergic rhinitis", "61582004"),
    ("Hypothyroidism", "40930008"),
    ("Gout", "90560007"),
    ("Irritable bowel syndrome", "10743008"),
    ("Tinnitus", "60862001"),
    ("Prediabetes", "15777000"),
    ("Chronic sinusitis", "40055000"),
    ("Carpal tunnel syndrome", "57406009"),
    ("Plantar fasciitis", None),
    ("Varicose veins of lower limbs", None),
    ("Benign prostatic hyperplasia", "266569009"),  # men only
]
CHILD_PROBLEMS = [
    ("Otitis media", "65363002"),
    ("Speech delay", None),
    ("Attention deficit hyperactivity disorder", "406506008"),
    ("Eczema", "24079001"),  # Atopic dermatitis
    ("Asthma", "195967001"),
    ("Tonsillitis", None),
    ("Constipation", "14760008"),
    ("Nocturnal enuresis", None),
    ("Allergic rhinitis", "61582004"),
    ("Acute bronchitis", "10509002"),
    ("Conjunctivitis", "9826008"),
    ("Head lice", None),
    ("Flat feet", None),
    ("Recurrent abdominal pain", None),
]
# The two people the brief names, always present (first in the adult list).
NAMED = [
    ("woman-40-anxiety", "female", 40, ["Anxiety"]),
    ("man-79-four", "male", 79, ["Hearing loss", "Anxiety", "Arthralgia", "Hypercholesterolemia"]),
]


def _bundle(pid: str, sex: str, age: float, problems: list[tuple[str, str | None]], rng: random.Random,
            today: date) -> dict:
    birth = today - timedelta(days=int(age * 365.25) + 30)
    entries = [{"fullUrl": f"urn:uuid:{pid}", "resource": {
        "resourceType": "Patient", "id": pid, "gender": sex, "birthDate": birth.isoformat()}}]
    for k, (text, code) in enumerate(problems):
        onset = today - timedelta(days=rng.randint(30, max(31, int(min(age, 15) * 365))))
        concept = {"text": text}
        if code:
            concept["coding"] = [{"system": SNOMED, "code": code, "display": text}]
        entries.append({"fullUrl": f"urn:uuid:{pid}-c{k}", "resource": {
            "resourceType": "Condition", "id": f"{pid}-c{k}",
            "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                                           "code": "active"}]},
            "verificationStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-ver-status",
                                               "code": "confirmed"}]},
            "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-category",
                                      "code": "problem-list-item", "display": "Problem List Item"}]}],
            "code": concept, "subject": {"reference": f"Patient/{pid}"},
            "onsetDateTime": onset.isoformat()}})
    return {"resourceType": "Bundle", "type": "collection", "entry": entries}


def adults(n: int = 200, seed: int = 11, today: date | None = None) -> list[tuple[dict, dict]]:
    """(Bundle, info) for ``n`` adults aged 18–90, each with 1–4 common problems; the :data:`NAMED` people first.
    info: {patient, sex, age, problems, name (the named person's key, else None)}."""
    today = today or date.today()
    rng = random.Random(seed)
    lookup = dict(ADULT_PROBLEMS)
    out = []
    for key, sex, age, names in NAMED:
        problems = [(t, lookup[t]) for t in names]
        out.append((_bundle(f"cp-{key}", sex, age, problems, rng, today),
                    {"patient": f"cp-{key}", "sex": sex, "age": age, "problems": names, "name": key}))
    for i in range(n - len(NAMED)):
        sex = rng.choice(["female", "male"])
        age = rng.randint(18, 90)
        pool = [p for p in ADULT_PROBLEMS if sex == "male" or p[0] != "Benign prostatic hyperplasia"]
        problems = rng.sample(pool, rng.randint(1, 4))
        pid = f"cp-a{i:03d}"
        out.append((_bundle(pid, sex, age, problems, rng, today),
                    {"patient": pid, "sex": sex, "age": age, "problems": [t for t, _ in problems], "name": None}))
    return out


def children(n: int = 100, seed: int = 12, today: date | None = None) -> list[tuple[dict, dict]]:
    """(Bundle, info) for ``n`` children aged 1–17 with 1–3 common childhood problems."""
    today = today or date.today()
    rng = random.Random(seed)
    out = []
    for i in range(n):
        sex = rng.choice(["female", "male"])
        age = rng.randint(1, 17)
        problems = rng.sample(CHILD_PROBLEMS, rng.randint(1, 3))
        pid = f"cp-c{i:03d}"
        out.append((_bundle(pid, sex, age, problems, rng, today),
                    {"patient": pid, "sex": sex, "age": age, "problems": [t for t, _ in problems], "name": None}))
    return out
