"""A seeded corpus of synthetic clinical notes with planted identifiers and clinical facts (test helper).

``note(seed)`` writes one problem-oriented note (header, HPI, past history, medications, family
and social history, vitals, exam, labs, genetics, assessment, plan, signature) for a synthetic
FHIR Patient, entirely from ``random.Random(seed)``: the same seed gives the same note. Every
identifier written into it is recorded as a :class:`Plant` (its HIPAA Safe Harbor category and
exact string); every clinical fact that a de-identifier must leave alone ("Hb 9.2 g/dL",
"3/6 systolic murmur", "Marfan syndrome", "c.1521_1523del") is recorded verbatim.

Categories planted (Safe Harbor §164.514(b)(2) items in brackets): ``patient_name``,
``relative_name``, ``clinician_name`` [A names]; ``street``, ``city``, ``zip``, ``facility``
[B geographic subdivisions; a facility names a place]; ``date`` [C dates], ``age`` [C ages over 89];
``phone``, ``fax`` [D, E]; ``email`` [F]; ``ssn`` [G]; ``mrn`` [H]; ``health_plan`` [I]; ``account`` [J];
``license`` [K]; ``vehicle`` [L]; ``device`` [M]; ``url`` [N]; ``ip`` [O]; ``employer`` and ``other_id``
[R any other unique number or characteristic]. Biometrics and photographs (P, Q) cannot occur in text.

Each category comes in many formats and contexts (see the ``_…`` slot methods), and names are drawn
from lists that include names that are also words ("Rose", "Hope", "Mark", "Gene") and surnames that
are also eponyms ("Wilson", "Turner", "Hunter"), since those are where pattern-based scrubbers fail.

:func:`score` runs a scrubber over notes and aligns the output with the input token by token
(difflib): a plant counts as removed when none of its secret tokens (the words and digit groups
that identify, not the cue words around them such as "Dr." or "Hospital") survives in place. A fact
counts as kept when it is still in the output verbatim. Seeds 0–99 are for tuning, 1000–1299 for
reporting; keep them apart.
"""
from __future__ import annotations

import bisect
import difflib
import random
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta

FIRST_F = ("Maeve Olivia Emma Ava Sophia Mia Amelia Harper Evelyn Aaliyah Priya Yuki Lucía Chloé Zoë Siobhán "
           "Fatima Anh Ingrid Renée Anne-Marie Mary Patricia Linda Susan Karen Nancy Betty Keisha Mei Aisha "
           "Rose Hope Grace June Faith Joy Dawn Iris Ivy Summer Amber Violet Daisy Ruby Pearl Penny Autumn "
           "Holly Hazel Olive Sandy Sage").split()
FIRST_M = ("Liam Noah Oliver Elijah Lucas Mateo Ethan James Benjamin Mohammed Wei Santiago José Aiden Jamal "
           "DeShawn Omar Minh Hiroshi Sven Björn Jean-Luc John Robert Michael David Thomas Daniel Kwame Tariq "
           "Mark Will Frank Bill Hunter Chase Drew Gene Guy Earl Dean Rocky Jack Grant Wade Pierce").split()
LAST = ("Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez Lopez Gonzalez "
        "Wilson Anderson Taylor Moore Jackson Martin Lee Perez Thompson White Harris Sanchez Clark Ramirez "
        "Lewis Robinson Walker Young Allen King Wright Scott Torres Nguyen Hill Flores Green Adams Nelson "
        "Baker Hall Rivera Campbell Mitchell Carter Roberts O'Brien McDonald MacLeod D'Angelo Kowalski Patel "
        "Okafor Yamamoto Haddad Fernández Müller Schröder Smith-Jones Nakamura Ivanova Dubois Rossi Kim Park "
        "Chen Wang Singh Khan Cohen Turner Hunter Becker Bell Graves Lynch Stone Price Rice Little Long Cook "
        "Gray Wood Rose Day Marsh Pope Black Short Strong Sharp Hardy Wise Moody Frost Fox Bird Li Wu Ng").split()
LAST_MULTI = ["van der Berg", "De La Cruz", "da Silva", "St. Clair"]
CITIES = ("Riverton Springfield Fairview Durham Raleigh Greenville Madison Franklin Clinton Georgetown Salem "
          "Bristol Oxford Ashland Burlington Kingston Milton Newport Winston-Salem Asheville Marion Florence "
          "Cary Apex Sanford Hickory Boone Lenoir").split() + ["Chapel Hill", "Ann Arbor", "Fort Collins",
                                                              "Cedar Rapids", "Lake Charles"]
STATES = [("NC", "North Carolina"), ("IL", "Illinois"), ("CO", "Colorado"), ("OH", "Ohio"), ("TX", "Texas"),
          ("MA", "Massachusetts"), ("GA", "Georgia"), ("VA", "Virginia"), ("WA", "Washington"),
          ("MN", "Minnesota"), ("PA", "Pennsylvania"), ("MI", "Michigan"), ("IN", "Indiana"), ("OR", "Oregon")]
STREET_NAMES = ("Oak Maple Pine Cedar Elm Main Church Park Washington Lake Hill Walnut Sunset Willow Highland "
                "Jefferson Lincoln Old_Mill Green_Valley Martin_Luther_King_Jr Riverside Chestnut Dogwood "
                "Magnolia Franklin Spring Meadow Forest").replace("_", " ").split()
STREET_SUFFIX = ("Street St St. Avenue Ave Ave. Road Rd Drive Dr. Lane Ln Court Ct Boulevard Blvd Way Place "
                 "Terrace Circle Cir Parkway Pkwy Highway Trail").split()
SAINTS = "Mary Joseph Luke Jude Francis Vincent Anne Elizabeth Michael Catherine Clare Peter".split()
WORDS = "Mercy Riverside Lakeside Sunrise Summit Hope Unity Grace Pinnacle Novant Atrium Beacon Harbor".split()
UNIVERSITIES = "Duke Emory Vanderbilt Stanford Baylor Tufts Brown Rush Yale Wake_Forest Johns_Hopkins".replace(
    "_", " ").split()
DOMAINS = "gmail.com yahoo.com outlook.com icloud.com aol.com duke.edu unc.edu example.org mail.com".split()
JOBS = "teacher cashier nurse aide welder electrician accountant driver cook mechanic farmer".split()
COMPANY_SUFFIX = ["Logistics", "& Sons", "Manufacturing", "Foods Inc.", "Bank", "Construction LLC", "Corp.",
                  "Hardware", "Insurance", "Motors"]
MONTHS = ("January February March April May June July August September October November December").split()
KIN = [("mother", "f"), ("father", "m"), ("sister", "f"), ("brother", "m"), ("aunt", "f"), ("uncle", "m"),
       ("maternal grandmother", "f"), ("paternal grandfather", "m"), ("daughter", "f"), ("son", "m"),
       ("cousin", "x"), ("husband", "m"), ("wife", "f"), ("partner", "x"), ("niece", "f"), ("nephew", "m"),
       ("stepfather", "m"), ("half-sister", "f"), ("grandson", "m"), ("fiancée", "f")]
ROLES = ["social worker", "case manager", "genetic counselor", "pharmacist", "physical therapist", "dietitian",
         "interpreter", "neurologist", "cardiologist", "pediatrician", "nurse coordinator", "chaplain"]

# Clinical facts: must survive verbatim.
LABS = ["Hb 9.2 g/dL", "hemoglobin 11.3 g/dL", "CK 12,000 U/L", "CK 8,450 U/L", "LDL 190", "LDL 212 mg/dL",
        "WBC 11.2", "platelets 250,000", "platelets 85 x10^9/L", "Na 134", "K 5.1 mmol/L", "creatinine 1.4 mg/dL",
        "ALT 245 U/L", "AST 180", "ferritin 2,400 ng/mL", "HbA1c 7.2%", "TSH 6.8 mIU/L", "lactate 4.1 mmol/L",
        "ammonia 180 umol/L", "IgG 350 mg/dL", "ceruloplasmin 8 mg/dL", "phenylalanine 1,250 umol/L",
        "alpha-fetoprotein 1,200 ng/mL", "copper 40 mcg/dL", "triglycerides 1,850 mg/dL", "CRP 48 mg/L"]
RANGES = ["(reference 200-1000 U/L)", "(ref 30-200 U/L)", "(normal 150-400)", "(range 3.5-5.0)",
          "(reference 250-1500 ng/mL)", "(normal 7-56 U/L)"]
VITALS = [["BP 128/84", "BP 110/62", "BP 142/91", "BP 96/58"], ["HR 92", "HR 78", "HR 110", "HR 64"],
          ["RR 18", "RR 22", "RR 14"], ["T 37.8 C", "T 36.9 C", "Temp 99.1 F"], ["SpO2 96%", "SpO2 99%"],
          ["weight 23.4 kg", "weight 81 kg", "Wt 54.2 kg"], ["BMI 31.2", "BMI 18.4", "BMI 24.9"]]
EXAM = ["3/6 systolic murmur", "grade 2/6 holosystolic murmur", "2/5 strength", "4/5 strength in hip flexors",
        "20/40 vision", "visual acuity 20/200", "Beighton score 7/9", "pain 7/10", "reflexes 3+",
        "1+ pitting edema", "GCS 15", "MoCA 24/30", "Tanner stage 3", "head circumference 52 cm",
        "strength improved from 3/5 to 4/5", "Apgars 8/9", "MMSE 22/30"]
GENES = ["SMN1", "COL3A1", "FBN1", "CFTR", "DMD", "ATP7B", "MECP2", "PAH", "GAA", "HEXA", "LDLR", "FMR1",
         "TTN", "SCN1A", "NF1", "TSC2"]
VARIANTS = ["c.1521_1523del", "p.Phe508del", "c.3G>A", "c.1A>G", "NM_000138.5:c.7241G>A", "c.2T>C",
            "exon 45-50 deletion", "c.916C>T (p.Arg306Cys)"]
GENOMIC = ["46,XY", "46,XX", "47,XX,+21", "22q11.2 deletion", "rs113993960", "HP:0001250", "OMIM 154700",
           "ORPHA:558", "chr7:117559590", "PMID 31234567", "ACMG class 5", "SMN2 copy number 3"]
EPONYMS = ["Marfan syndrome", "Ehlers-Danlos syndrome", "Down syndrome", "Wilson disease", "Parkinson disease",
           "Duchenne muscular dystrophy", "Becker muscular dystrophy", "Turner syndrome", "Noonan syndrome",
           "Williams syndrome", "Huntington disease", "Crohn disease", "Hodgkin lymphoma", "Cushing syndrome",
           "Graves disease", "Hashimoto thyroiditis", "Kawasaki disease", "Gaucher disease", "Fabry disease",
           "Pompe disease", "Tay-Sachs disease", "Rett syndrome", "Angelman syndrome", "Prader-Willi syndrome",
           "Charcot-Marie-Tooth disease", "Alport syndrome", "Lynch syndrome", "Li-Fraumeni syndrome",
           "von Willebrand disease", "Hirschsprung disease", "Bell's palsy", "Alzheimer disease",
           "Wilson's disease", "Parkinson's disease", "Hunter syndrome", "Gowers sign", "Factor V Leiden"]
HPO = ["hypotonia", "seizures", "developmental delay", "ataxia", "macrocephaly", "hepatomegaly",
       "muscle weakness", "joint hypermobility", "aortic root dilatation", "scoliosis", "ptosis",
       "hearing loss", "cataract", "short stature", "intellectual disability", "cardiomyopathy"]
DRUGS = ["levetiracetam 20 mg/kg/day", "5 mg/kg", "aspirin 81 mg", "metformin 500 mg BID",
         "vitamin D 1,000 units", "losartan 25 mg daily", "nusinersen 12 mg intrathecal",
         "atorvastatin 40 mg", "prednisone 0.75 mg/kg", "zinc acetate 50 mg TID"]
CLINICAL_OTHER = ["Type 2 diabetes", "NYHA class II", "EF 55%", "QTc 480 ms", "FEV1 65%", "Z-score -2.5",
                  "G2P1", "stage 3 CKD", "t(9;22)"]

GENERIC = {w.lower() for w in (
    "St St. Saint Hospital Hospitals Medical Center Centre University of the Health System Clinic Children's "
    "Children Childrens Memorial Regional General Family Practice Pediatrics Urgent Care Institute Cancer Rehabilitation "
    "Nursing Home Hospice Associates School Elementary Middle High Academy College Inc Inc. LLC Corp Corp. "
    "& Sons Logistics Manufacturing Foods Bank Construction Hardware Insurance Motors Street Avenue Road Drive "
    "Lane Court Boulevard Way Place Terrace Circle Parkway Highway Trail Ave Rd Dr Ln Ct Blvd Cir Pkwy Apt "
    "Suite Unit s com org net edu www http https mail and").split()}


@dataclass(frozen=True)
class Plant:
    """One planted identifier: its category, the exact string written, the tokens that identify, and where."""
    category: str
    text: str
    secrets: tuple[str, ...]
    start: int


@dataclass
class Note:
    """One synthetic note: text, the FHIR Patient it is about, the day it is read, and what was planted."""
    seed: int
    text: str
    patient: dict
    today: date
    plants: list[Plant] = field(default_factory=list)
    facts: list[str] = field(default_factory=list)
    people: list = field(default_factory=list)  # other people the record names (practitioners' displays)


def _secrets(category: str, text: str) -> tuple[str, ...]:
    words = re.findall(r"\w+", text)
    if category in ("phone", "fax"):
        return tuple(w for w in words if w.isdigit() and len(w) >= 2)
    if category in ("patient_name", "relative_name", "clinician_name"):
        return tuple(w for w in words if len(w) >= 2 and w.lower() not in ("van", "der", "de", "la", "da", "st"))
    return tuple(w for w in words if w.lower() not in GENERIC and (len(w) >= 2 or w.isdigit())) or tuple(words)


class _Writer:
    """Builds one note: plain text, planted identifiers and facts, in order."""

    def __init__(self, seed: int):
        self.r = random.Random(seed)
        self.seed = seed
        self.parts: list[str] = []
        self.plants: list[Plant] = []
        self.facts: list[str] = []
        self.used: set[str] = set()
        self.size = 0

    # --- writing -------------------------------------------------------------------------------
    def t(self, *texts: str) -> _Writer:
        self.parts.extend(texts)
        self.size += sum(map(len, texts))
        return self

    def phi(self, category: str, text: str, secrets: tuple[str, ...] | None = None) -> _Writer:
        self.plants.append(Plant(category, text, secrets or _secrets(category, text), self.size))
        return self.t(text)

    def fact(self, text: str) -> _Writer:
        self.facts.append(text)
        return self.t(text)

    def pick(self, seq):
        return self.r.choice(seq)

    def chance(self, p: float) -> bool:
        return self.r.random() < p

    def digits(self, n: int, first: str = "0123456789") -> str:
        return self.pick(first) + "".join(self.pick("0123456789") for _ in range(n - 1))

    def unique(self, make: Callable[[], str]) -> str:
        """A value not used before in this note (so that scoring can tell plants apart)."""
        for _ in range(50):
            v = make()
            if v not in self.used:
                self.used.add(v)
                return v
        return v

    def some(self, pool, k=1, sep=", "):
        w = self
        for i, f in enumerate(w.r.sample(pool, k)):
            if i:
                w.t(sep)
            w.fact(f)
        return w

    def text(self) -> str:
        return "".join(self.parts)


class _Person:
    def __init__(self, first: str, last: str, sex: str):
        self.first, self.last, self.sex = first, last, sex

    @property
    def full(self) -> str:
        return f"{self.first} {self.last}"


def _person(w: _Writer, sex: str | None = None, last: str | None = None) -> _Person:
    sex = sex if sex in ("f", "m") else w.pick("fm")
    first = w.unique(lambda: w.pick(FIRST_F if sex == "f" else FIRST_M))
    last = last or w.unique(lambda: w.pick(LAST_MULTI) if w.chance(0.04) else w.pick(LAST))
    return _Person(first, last, sex)


class _Note:
    """Slot writers for one note; each ``_x`` method writes one identifier in a randomly chosen format."""

    def __init__(self, seed: int):
        self.w = w = _Writer(seed)
        self.today = date(2024, 1, 1) + timedelta(days=w.r.randrange(0, 1000))
        self.old = w.chance(0.12)
        years = w.r.randrange(90, 104) if self.old else w.r.randrange(1, 89)
        self.birth = self.today - timedelta(days=int(years * 365.25) + w.r.randrange(1, 300))
        self.age = (self.today - self.birth).days * 100 // 36525
        self.pt = _person(w)
        self.nick = self.pt.first[:3] if len(self.pt.first) > 4 and w.chance(0.3) else None
        self.mrn = w.unique(lambda: w.pick(["", "E", "M", "A"]) + w.digits(w.r.choice([7, 8]), "123456789"))
        self.home_phone = self._phone_value()
        self.home_email = f"{self.pt.first.lower()}.{re.sub(r'[^a-z]', '', self.pt.last.lower())}@{w.pick(DOMAINS)}"
        self.city, (self.st, self.state) = w.pick(CITIES), w.pick(STATES)
        self.zip = w.digits(5, "123456789")
        self.home_street = f"{w.r.randrange(2, 9999)} {w.pick(STREET_NAMES)} {w.pick(['Street', 'Lane', 'Avenue', 'Road'])}"
        self.contact_kin, sex = w.pick([("mother", "f"), ("father", "m"), ("wife", "f"), ("husband", "m"),
                                        ("daughter", "f"), ("son", "m")])
        self.contact = _person(w, sex, last=self.pt.last if w.chance(0.5) else None)
        self.contact_sex = sex
        self.contact_phone = self._phone_value()
        self.she = {"f": "she", "m": "he"}[self.pt.sex]
        self.her = {"f": "her", "m": "his"}[self.pt.sex]

    # --- values --------------------------------------------------------------------------------
    def _phone_value(self) -> str:
        w = self.w
        return w.unique(lambda: w.digits(3, "23456789") + w.digits(3, "23456789") + w.digits(4))

    def patient(self) -> dict:
        pt = self.pt
        name = {"use": "official", "family": pt.last, "given": [pt.first], "text": pt.full}
        return {"resourceType": "Patient", "id": f"syn-{self.w.seed}", "gender": {"f": "female", "m": "male"}[pt.sex],
                "birthDate": self.birth.isoformat(),
                "name": [name] + ([{"use": "nickname", "given": [self.nick]}] if self.nick else []),
                "identifier": [{"type": {"text": "MRN"}, "value": self.mrn}],
                "telecom": [{"system": "phone", "value": _fmt_phone(self.home_phone, 0)},
                            {"system": "email", "value": self.home_email}],
                "address": [{"line": [self.home_street], "city": self.city, "state": self.st, "postalCode": self.zip}],
                "contact": [{"relationship": [{"text": self.contact_kin}],
                             "name": {"family": self.contact.last, "given": [self.contact.first]},
                             "telecom": [{"system": "phone", "value": _fmt_phone(self.contact_phone, 1)}]}]}

    # --- slots ---------------------------------------------------------------------------------
    def pt_name(self, form: str | None = None):
        w, pt = self.w, self.pt
        form = form or w.pick(["first", "first", "full", "title", "caps", "rev", "nick"])
        if form == "nick" and self.nick:
            return w.phi("patient_name", self.nick)
        if form == "full":
            return w.phi("patient_name", pt.full)
        if form == "title":
            return w.t(w.pick({"f": ["Ms. ", "Mrs. ", "Miss "], "m": ["Mr. "]}[pt.sex])).phi("patient_name", pt.last)
        if form == "caps":
            return w.phi("patient_name", pt.full.upper())
        if form == "rev":
            return w.phi("patient_name", f"{pt.last}, {pt.first}")
        return w.phi("patient_name", pt.first)

    def clinician(self, form: str | None = None):
        w = self.w
        p = _person(w)
        form = form or w.pick(["dr", "dr_full", "dr_init", "md", "md_comma", "do", "nurse", "rn", "np", "pa",
                               "rn_after", "role", "label_rev", "phd", "prof"])
        if form == "dr":
            return w.t(w.pick(["Dr. ", "Dr ", "Doctor "])).phi("clinician_name", p.last)
        if form == "dr_full":
            return w.t("Dr. ").phi("clinician_name", p.full)
        if form == "dr_init":
            return w.t("Dr. ").phi("clinician_name", f"{p.first[0]}. {p.last}")
        if form == "md":
            return w.phi("clinician_name", p.full).t(" MD")
        if form == "md_comma":
            return w.phi("clinician_name", p.full).t(w.pick([", MD", ", M.D.", ", MD, PhD", ", MBBS", ", MD, FAAP"]))
        if form == "do":
            return w.phi("clinician_name", p.last).t(" DO")
        if form == "nurse":
            return w.t("Nurse ").phi("clinician_name", w.pick([p.last, p.first, p.full]))
        if form == "rn":
            return w.t("RN ").phi("clinician_name", p.full)
        if form == "np":
            return w.t(w.pick(["NP ", "FNP ", "APRN "])).phi("clinician_name", w.pick([p.last, p.full]))
        if form == "pa":
            return w.t("PA-C ").phi("clinician_name", p.full)
        if form == "rn_after":
            return w.phi("clinician_name", p.full).t(w.pick([", RN", " RN", ", NP", ", BSN, RN", ", LPN"]))
        if form == "role":
            return w.t(w.pick(ROLES), " ").phi("clinician_name", p.full)
        if form == "label_rev":
            return w.phi("clinician_name", f"{p.last}, {p.first}").t(w.pick([" MD", ", MD", " DO"]))
        if form == "phd":
            return w.phi("clinician_name", p.full).t(w.pick([", PhD", ", MS, CGC", ", LCSW", ", PharmD"]))
        return w.t("Prof. ").phi("clinician_name", p.last)

    def relative(self, kin: str | None = None, sex: str = "x", *, lead: bool = False):
        """A relative named with the kin word before or after ("her mother, Mary Jones," / "Tom (brother)")."""
        w = self.w
        if kin is None:
            kin, sex = w.pick(KIN)
        p = _person(w, sex, last=self.pt.last if w.chance(0.4) else None)
        form = w.pick(["comma_full", "space_first", "space_full", "paren_first", "named", "after_paren",
                       "after_comma", "colon_full"])
        kin_text = kin.capitalize() if lead else f"{self.her} {kin}" if w.chance(0.5) else kin
        if form == "comma_full":
            return w.t(kin_text, ", ").phi("relative_name", p.full).t(",")
        if form == "space_first":
            return w.t(kin_text, " ").phi("relative_name", p.first)
        if form == "space_full":
            return w.t(kin_text, " ").phi("relative_name", p.full)
        if form == "paren_first":
            return w.t(kin_text, " (").phi("relative_name", p.first).t(")")
        if form == "named":
            return w.t(kin_text, w.pick([" named ", ", called ", " is "])).phi("relative_name", p.first)
        if form == "after_paren":
            return w.phi("relative_name", p.full).t(f" ({self.her} {kin})" if w.chance(0.5) else f" ({kin})")
        if form == "after_comma":
            return w.phi("relative_name", p.full).t(f", {self.her} {kin},")
        return w.t(kin.capitalize(), ": ").phi("relative_name", p.full).t(",")

    def date(self, form: str | None = None, *, yearless_ok: bool = True, cues=("on ", "since ", "from ", "by ", "until ")):
        w = self.w
        d = self.today - timedelta(days=w.r.randrange(1, 3650))
        forms = ["mdy", "mdy2", "iso", "long", "dmy_long", "mdy_dash", "dmy_abbr", "ymd_slash", "ord_long",
                 "mdy_dot", "mil", "isodt", "eu", "month_year", "num_month_year", "long_of"]
        if yearless_ok:
            forms += ["mon_day", "mon_dayth", "md_cue", "ord_of", "day_mon"]
        form = form or w.pick(forms)
        mon, m, dd, y = MONTHS[d.month - 1], d.month, d.day, d.year
        th = "th" if 11 <= dd <= 13 else {1: "st", 2: "nd", 3: "rd"}.get(dd % 10, "th")
        if form == "eu" and dd <= 12:
            form = "mdy"
        text = {"mdy": f"{m:02d}/{dd:02d}/{y}", "mdy2": f"{m}/{dd}/{y % 100:02d}", "iso": d.isoformat(),
                "long": f"{mon} {dd}, {y}", "dmy_long": f"{dd} {mon} {y}", "mdy_dash": f"{m:02d}-{dd:02d}-{y}",
                "dmy_abbr": f"{dd:02d}-{mon[:3]}-{y}", "ymd_slash": f"{y}/{m:02d}/{dd:02d}",
                "ord_long": f"{mon} {dd}{th}, {y}", "mdy_dot": f"{m}.{dd}.{y % 100:02d}",
                "mil": f"{dd:02d}{mon[:3].upper()}{y}", "isodt": f"{d.isoformat()}T{w.r.randrange(24):02d}:{w.r.randrange(60):02d}:00Z",
                "eu": f"{dd}/{m}/{y}", "month_year": f"{mon} {y}", "num_month_year": f"{m}/{y}",
                "long_of": f"{mon} of {y}", "mon_day": f"{mon[:3]}{w.pick(['', '.'])} {dd}",
                "mon_dayth": f"{mon[:3]} {dd}{th}", "md_cue": f"{m}/{dd}", "ord_of": f"the {dd}{th} of {mon}",
                "day_mon": f"{dd} {mon}"}[form]
        if form == "md_cue":
            w.t(w.pick(cues))
        elif form in ("mon_day", "mon_dayth", "ord_of", "day_mon") and w.chance(0.6):
            w.t(w.pick(cues))
        return w.phi("date", text)

    def age_old(self, form: str | None = None):
        w = self.w
        n = str(w.r.randrange(91, 106))  # 90 itself would read the same as "90+"
        form = form or w.pick(["yo_dash", "aged", "age", "y/o", "yo", "years_old", "died_at", "age_colon", "yo_sp"])
        if form == "yo_dash":
            return w.phi("age", n).t("-year-old")
        if form == "aged":
            return w.t("aged ").phi("age", n)
        if form == "age":
            return w.t(w.pick(["age ", "at age ", "(age "])).phi("age", n)
        if form == "y/o":
            return w.phi("age", n).t(w.pick([" y/o", " y.o.", "yo"]))
        if form == "yo":
            return w.phi("age", n).t(" yo")
        if form == "years_old":
            return w.phi("age", n).t(w.pick([" years old", " year old", "-yr-old"]))
        if form == "died_at":
            return w.t(w.pick(["died at ", "passed away at ", "died at age "])).phi("age", n)
        if form == "age_colon":
            return w.t("Age: ").phi("age", n)
        return w.t("a ").phi("age", n).t(" year old")

    def phone(self, category: str = "phone", value: str | None = None):
        w = self.w
        v = value or self._phone_value()
        style = w.r.randrange(0, 12)
        return w.phi(category, _fmt_phone(v, style))

    def phone_cued(self):
        w = self.w
        cue = w.pick(["phone ", "Phone: ", "cell ", "Cell: ", "tel ", "mobile ", "home ", "call ", "reached at ",
                      "contact number ", "Ph: ", "work "])
        w.t(cue)
        if cue in ("tel ", "phone ", "call ") and w.chance(0.4):
            return w.phi("phone", self._phone_value()[w.pick([0, 3]):])
        return self.phone()

    def street(self, own: bool = False):
        w = self.w
        if own:
            return w.phi("street", self.home_street)
        n = w.r.randrange(2, 99999)
        kind = w.r.randrange(0, 5)
        if kind == 0:
            return w.phi("street", f"P.O. Box {w.r.randrange(10, 9999)}")
        direction = w.pick(["", "", "N. ", "S ", "West ", "NE "])
        name = w.pick(STREET_NAMES) if kind < 4 else f"{w.r.randrange(1, 120)}{w.pick(['st', 'nd', 'th'])}"
        unit = w.pick(["", "", "", f", Apt {w.r.randrange(1, 40)}{w.pick('ABC')}", f" Suite {w.r.randrange(100, 999)}",
                       f", Unit {w.r.randrange(1, 20)}", f" #{w.r.randrange(2, 30)}"])
        return w.phi("street", f"{n} {direction}{name} {w.pick(STREET_SUFFIX)}{unit}")

    def place(self, shapes: int = 6):
        """City, state and ZIP in one of several shapes (the first ``shapes`` of them)."""
        w = self.w
        city, (st, state) = w.pick(CITIES), w.pick(STATES)
        zip5 = w.unique(lambda: w.digits(5, "123456789"))
        zip_ = zip5 + (f"-{w.digits(4)}" if w.chance(0.3) else "")
        shape = w.r.randrange(0, shapes)
        shape = 5 if shape == 3 and shapes < 6 else shape
        if shape == 0:
            return w.phi("city", city).t(", ", st, " ").phi("zip", zip_)
        if shape == 1:
            return w.phi("city", city).t(", ", state, " ").phi("zip", zip_)
        if shape == 2:
            return w.phi("city", city).t(", ", w.pick([st, state]))
        if shape == 3:
            return w.t(w.pick(["lives in ", "moved from ", "resides in ", "relocated to ", "grew up in "])).phi(
                "city", city)
        if shape == 4:
            return w.t(w.pick(["ZIP ", "zip code ", "ZIP: "])).phi("zip", zip_)
        return w.phi("city", city).t(" ").phi("zip", zip5 + f"-{w.digits(4)}")

    def facility(self):
        w = self.w
        kind = w.r.randrange(0, 14)
        city = w.pick(CITIES)
        last = w.pick(LAST)
        name = [f"St. {w.pick(SAINTS)}'s Hospital", f"Saint {w.pick(SAINTS)} Medical Center",
                f"{last} Memorial Hospital", f"{city} General Hospital", f"{city} Regional Medical Center",
                f"University of {w.pick(STATES)[1]} Medical Center", f"{w.pick(UNIVERSITIES)} University Medical Center",
                f"{w.pick(WORDS)} Clinic", f"Children's Hospital of {city}", f"{city} Children's Hospital",
                f"{last} Family Practice", f"{city} Pediatrics", f"{w.pick(WORDS)} Health System",
                f"{w.pick(WORDS)} Urgent Care"][kind]
        return w.phi("facility", name)

    def employer(self):
        w = self.w
        if w.chance(0.4):
            school = f"{w.pick(LAST + CITIES)} {w.pick(['Elementary School', 'Middle School', 'High School', 'Academy'])}"
            return w.t(w.pick(["attends ", "is in 3rd grade at ", "a student at "])).phi("employer", school)
        company = f"{w.pick(LAST + CITIES + WORDS)} {w.pick(COMPANY_SUFFIX)}"
        return w.t(f"works as a {w.pick(JOBS)} ", w.pick(["at ", "for "])).phi("employer", company)

    def ident(self, category: str):
        """One identifier number of ``category`` with its cue."""
        w = self.w
        u = w.unique
        L = "ABCDEFGHJKLMNPRSTUVWXYZ"
        def letters(n):
            return "".join(w.pick(L) for _ in range(n))
        if category == "ssn":
            a, b, c = w.digits(3, "1234567"), w.digits(2, "123456789"), w.digits(4, "123456789")
            cue, fmt = w.pick(["SSN ", "SSN: ", "SS# ", "social security number ", "Social Security No. "]), w.r.randrange(3)
            return w.t(cue).phi("ssn", u(lambda: [f"{a}-{b}-{c}", f"{a} {b} {c}", f"{a}{b}{c}"][fmt]))
        options = {
            "mrn": [("MRN ", lambda: w.digits(8, "123456789")), ("MRN: ", lambda: "E" + w.digits(7)),
                    ("MR# ", lambda: "00" + w.digits(6)), ("Medical record number ", lambda: w.digits(7, "123456789")),
                    ("Patient ID: ", lambda: "P-" + w.digits(6)), ("hospital number ", lambda: "H" + w.digits(7)),
                    ("Chart # ", lambda: w.digits(6, "123456789"))],
            "health_plan": [("Member ID: ", lambda: letters(3) + w.digits(9)),
                            ("Member ID ", lambda: f"{letters(3)} {w.digits(4)} {w.digits(4)}"),
                            ("policy # ", lambda: f"{letters(2)}-{w.digits(7)}"), ("Policy number ", lambda: w.digits(6, "123456789")),
                            ("Insurance ID ", lambda: "W" + w.digits(9)), ("Medicaid ID ", lambda: w.digits(8) + w.pick(L)),
                            ("Medicare # ", lambda: f"{w.digits(1, '123456789')}{letters(2)}{w.digits(1)}-{letters(2)}{w.digits(1)}-{letters(2)}{w.digits(2)}"),
                            ("Group #: ", lambda: w.digits(7)), ("subscriber ID ", lambda: letters(3) + w.digits(5)),
                            ("health plan beneficiary number ", lambda: w.digits(9, "123456789"))],
            "account": [("Account # ", lambda: w.digits(9, "123456789")), ("acct no. ", lambda: f"{w.digits(2)}-{w.digits(5)}"),
                        ("billing account ", lambda: w.digits(10, "123456789")), ("Encounter # ", lambda: w.digits(11, "2")),
                        ("FIN ", lambda: w.digits(9, "123456789")), ("visit number ", lambda: "V" + w.digits(7))],
            "license": [("DL# ", lambda: w.pick(L) + w.digits(7)), ("driver's license ", lambda: f"{w.pick(L)}{w.digits(3)}-{w.digits(4)}-{w.digits(4)}"),
                        ("NPI ", lambda: w.digits(10, "1")), ("DEA # ", lambda: letters(2) + w.digits(7)),
                        ("license no. ", lambda: "MD" + w.digits(6)), ("birth certificate no. ", lambda: f"{w.digits(3)}-{w.digits(4)}-{w.digits(6)}"),
                        ("passport number ", lambda: w.digits(9, "123456789"))],
            "vehicle": [("license plate ", lambda: f"{letters(3)}-{w.digits(4)}"), ("plate # ", lambda: f"{w.digits(1)}{letters(3)}{w.digits(3)}"),
                        ("VIN ", lambda: w.digits(1, "12345") + letters(4) + w.digits(5) + w.pick(L) + w.digits(6))],
            "device": [("pacemaker serial number ", lambda: letters(3) + w.digits(6) + w.pick(L)),
                       ("S/N: ", lambda: w.digits(2) + letters(2) + w.digits(5)), ("insulin pump serial ", lambda: w.digits(8, "123456789")),
                       ("device ID ", lambda: f"DX-{w.digits(5)}"), ("cochlear implant SN ", lambda: f"CI-{w.digits(3)}-{w.digits(5)}"),
                       ("UDI ", lambda: f"(01){w.digits(14)}(17){w.digits(6)}")],
            "other_id": [("accession # ", lambda: f"S{w.digits(2)}-{w.digits(6)}"), ("specimen ID ", lambda: f"{w.digits(2)}-{letters(3)}-{w.digits(4)}"),
                         ("case number ", lambda: f"{w.digits(4, '2')}-{w.digits(5)}"), ("claim # ", lambda: w.digits(9, "123456789")),
                         ("order number ", lambda: w.digits(8, "123456789"))],
        }[category]
        cue, make = w.pick(options)
        return w.t(cue).phi(category, u(make))

    def url(self):
        w = self.w
        who = re.sub(r"[^a-z]", "", self.pt.first.lower())
        return w.phi("url", w.pick([f"https://mychart.{w.pick(['duke', 'unc', 'novant'])}.org/patient/{w.digits(6)}",
                                    f"http://portal.example.org/p/{w.digits(5)}", f"www.facebook.com/{who}.{w.digits(3)}",
                                    f"mychart.{w.pick(['atrium', 'wakehealth'])}.org/u/{w.digits(4)}",
                                    f"https://www.gofundme.com/f/help-{who}-{w.digits(3)}"]))

    def ip(self):
        w = self.w
        if w.chance(0.2):
            return w.phi("ip", f"2001:db8:{w.r.randrange(4096):x}::{w.r.randrange(4096):x}")
        return w.phi("ip", ".".join(str(w.r.randrange(1, 255)) for _ in range(4)))

    def email(self, own: bool = False):
        w = self.w
        if own:
            return w.phi("email", self.home_email)
        p = _person(w)
        first, last = re.sub(r"[^a-z]", "", p.first.lower()), re.sub(r"[^a-z]", "", p.last.lower())
        return w.phi("email", w.pick([f"{first}.{last}@{w.pick(DOMAINS)}", f"{first[0]}{last}{w.digits(2)}@{w.pick(DOMAINS)}",
                                      f"{first}_{last}+clinic@mail.{w.pick(['example', 'health'])}.org"]))



def _fmt_phone(v: str, style: int) -> str:
    a, b, c = v[:3], v[3:6], v[6:]
    return [f"({a}) {b}-{c}", f"{a}-{b}-{c}", f"{a}.{b}.{c}", f"({a}) {b} {c}", f"{a} {b} {c}", f"+1 {a} {b} {c}",
            f"1-{a}-{b}-{c}", f"{b}-{c}", f"({a}){b}-{c}", f"{a}-{b}-{c} ext. {v[7:]}", f"{a}/{b}-{c}",
            f"+1-{a}-{b}-{c} x{c[:3]}"][style]


def note(seed: int) -> Note:
    """The synthetic note for ``seed`` (deterministic)."""
    n = _Note(seed)
    w, r = n.w, n.w.r
    nl = "\n"
    # Header
    shape = r.randrange(3)
    if shape == 0:
        w.t("Patient: "), n.pt_name("full"), w.t("   DOB: "), n.date("mdy"), w.t("   MRN: ").phi("mrn", n.mrn), w.t(nl)
        w.t("Date of service: "), n.date(r.choice(["mdy", "iso", "long"])), w.t(nl, "Provider: "), n.clinician(
            r.choice(["md_comma", "md", "do", "label_rev"])), w.t(nl, "Location: "), n.facility(), w.t(nl * 2)
    elif shape == 1:
        n.pt_name("caps"), w.t(" (").phi("mrn", n.mrn).t(") | DOB "), n.date("iso"), w.t(" | Seen "), n.date("mdy2")
        w.t(" at "), n.facility(), w.t(nl * 2)
    else:
        w.t("Name: "), n.pt_name("rev"), w.t(nl), n.ident("mrn"), w.t(", "), n.ident("account"), w.t(nl, "Visit date: ")
        n.date(r.choice(["long", "dmy_abbr", "mil"])), w.t(nl * 2)
    # HPI
    w.t("CHIEF COMPLAINT: ").fact(r.choice(HPO)).t(nl * 2, "HISTORY OF PRESENT ILLNESS: ")
    n.pt_name("first" if r.random() < 0.6 else "title"), w.t(" is a ")
    if n.old:
        n.age_old("yo_dash")
    else:
        w.fact(f"{n.age}-year-old")
    w.t(" ", {"f": "woman", "m": "man"}[n.pt.sex], " referred by "), n.clinician(), w.t(" of "), n.facility()
    w.t(" for ").fact(r.choice(HPO)).t(" and ").fact(r.choice(HPO)).t(". Symptoms began ")
    n.date(), w.t(". ", n.she.capitalize(), " was seen at "), n.facility(), w.t(" "), n.date(), w.t(", where ")
    w.some(LABS).t(" was noted ").fact(r.choice(RANGES)).t(". Per "), n.relative(), w.t(" symptoms worsened ")
    n.date(r.choice(["md_cue", "mon_day", "long"])), w.t(".")
    if n.nick and r.random() < 0.7:
        w.t(" ", n.she.capitalize(), " goes by "), n.pt_name("nick"), w.t(".")
    w.t(nl * 2, "PAST MEDICAL HISTORY: ").some(EPONYMS).t(", ").some(HPO).t(" (")
    w.fact(f"diagnosed in {n.today.year - r.randrange(2, 12)}").t("), ").some(CLINICAL_OTHER).t(".", nl)
    w.t("MEDICATIONS: ").some(DRUGS, 2).t(". Allergies: NKDA.", nl * 2)
    # Family history
    w.t("FAMILY HISTORY: ")
    for _ in range(r.randrange(2, 5)):
        kind = r.randrange(7)
        if kind == 0:
            n.relative(lead=True), w.t(" has ").fact(r.choice(EPONYMS)).t(". ")
        elif kind == 1:
            n.relative(*r.choice([("maternal grandmother", "f"), ("paternal grandfather", "m"), ("great-aunt", "f")]),
                       lead=True), w.t(" ")
            n.age_old(r.choice(["died_at", "age"])), w.t(".") if r.random() < 0.5 else w.t(" of ").fact(
                r.choice(EPONYMS)).t("."), w.t(" ")
        elif kind == 2:
            w.t(r.choice(["Mother: ", "Father: ", "Sister: ", "Brother - ", "Maternal uncle: "])).fact(
                r.choice(EPONYMS)).t(" diagnosed at age ", str(r.randrange(20, 80)), ". ")
        elif kind == 3:
            w.t("Parents: "), w.phi("relative_name", _person(w, "f").first), w.t(" and ")
            w.phi("relative_name", f"{_person(w, 'm').first} {n.pt.last if r.random() < 0.5 else _person(w).last}"), w.t(
                ", both healthy. ")
        elif kind == 4:
            w.t(r.choice(["Sister with ", "Brother with ", "A cousin has "])).fact(r.choice(EPONYMS)).t(". ")
        elif kind == 5:
            kin, sex = r.choice(KIN)
            w.t(f"{kin.capitalize()} "), w.phi("relative_name", _person(w, sex).first), w.t(" (")
            n.age_old(r.choice(["yo", "y/o", "years_old"])) if r.random() < 0.3 else w.t(str(r.randrange(2, 80)))
            w.t(") is well. ")
        else:
            n.relative(lead=True), w.t(" is ", str(r.randrange(3, 80)), " and healthy. ")
    w.t(nl * 2, "SOCIAL HISTORY: Lives with ", n.her, " ", n.contact_kin, " ")
    w.phi("relative_name", r.choice([n.contact.first, n.contact.full]))
    w.t(" at "), (n.street(own=True) if r.random() < 0.5 else n.street()), w.t(", ")
    if r.random() < 0.5:
        w.phi("city", n.city).t(", ", n.st, " ").phi("zip", n.zip)
    else:
        n.place(4)
    w.t(". ")
    for _ in range(r.randrange(3, 7)):
        k = r.randrange(12)
        if k == 0:
            w.t(n.she.capitalize(), " "), n.employer(), w.t(". ")
        elif k == 1:
            w.t("Emergency contact: "), w.phi("relative_name", _person(w).full), w.t(f" ({r.choice(KIN)[0]}), ")
            n.phone(), w.t(". ")
        elif k == 2:
            w.t("Can be reached at "), n.phone(value=n.home_phone if r.random() < 0.5 else None), w.t(" or "), n.email(
                own=r.random() < 0.5), w.t(". ")
        elif k == 3:
            w.t("Insurance: "), n.ident("health_plan"), w.t("; "), n.ident("health_plan"), w.t(". ")
        elif k == 4:
            n.ident("ssn"), w.t(" on file. ")
        elif k == 5:
            w.t("Drives; "), n.ident(r.choice(["vehicle", "license"])), w.t(". ")
        elif k == 6:
            w.t("Has a device ("), n.ident("device"), w.t("). ")
        elif k == 7:
            w.t("Patient portal: "), n.url(), w.t(" (last login from "), n.ip(), w.t("). ")
        elif k == 8:
            w.t("Previously: "), n.place(), w.t("; "), n.phone_cued(), w.t(". ")
        elif k == 9:
            w.t("Mail to "), n.street(), w.t(", "), n.place(5), w.t(". ")
        elif k == 10:
            w.t("A "), n.relative(), w.t(" visits often. ")
        else:
            w.t("Accompanied by "), n.relative(), w.t(" today. ")
    # Vitals, exam, labs, genetics
    w.t(nl * 2, "VITALS: ")
    for i, group in enumerate(r.sample(VITALS, 5)):
        w.t(" | " if i else "").fact(r.choice(group))
    w.t(nl, "EXAM: ").some(EXAM, 3, "; ").t(". ").some(HPO).t(" noted.", nl)
    w.t("LABS ("), n.date(r.choice(["mdy", "iso", "mdy2", "long"]), yearless_ok=False), w.t("): ").some(LABS, 3)
    w.t(" ").fact(r.choice(RANGES)).t(". ", nl)
    w.t("GENETICS: Heterozygous variant ").fact(r.choice(VARIANTS)).t(" in ").fact(r.choice(GENES)).t(" (")
    w.some(GENOMIC, 2).t("); reported "), n.date(), w.t(", "), n.ident("other_id"), w.t(".", nl * 2)
    # Assessment and plan
    w.t("ASSESSMENT: "), n.pt_name(), w.t(" has features of ").fact(r.choice(EPONYMS)).t(" with ").fact(
        r.choice(GENES)).t(" findings.", nl, "PLAN:", nl)
    w.t("1. Follow up "), n.date(r.choice(["md_cue", "mon_dayth", "long", "ord_of"]), cues=("on ", "by ")), w.t(" with ")
    n.clinician(), w.t(".", nl)
    if r.random() < 0.5:
        w.t(r.choice(["Last visit ", "Seen ", "DOS: ", "Next appt ", "Labs drawn ", "Returned "])), n.date("md_cue", cues=("",))
        w.t(r.choice([".", "; stable.", " at 10:30."]), nl)
    w.t("2. Referral to "), n.clinician("role"), w.t(" at "), n.facility(), w.t("; fax records to "), n.phone("fax"), w.t(
        ".", nl)
    w.t("3. Discussed with "), n.relative(), w.t(" and "), n.clinician(), w.t(". Questions: call "), n.phone(), w.t(
        ".", nl)
    if r.random() < 0.5:
        w.t("4. Contact "), n.relative(n.contact_kin, n.contact_sex), w.t(" at "), n.phone(value=n.contact_phone), w.t(" if needed.", nl)
    # Signature
    w.t(nl)
    sig = r.randrange(3)
    if sig == 0:
        w.t("Electronically signed by "), n.clinician(r.choice(["md_comma", "rn_after", "phd", "md"])), w.t(" on ")
        n.date(r.choice(["mdy", "isodt", "long"])), w.t(f" {r.randrange(1, 12)}:{r.randrange(60):02d} PM", nl)
    elif sig == 1:
        n.clinician(r.choice(["md_comma", "md", "do"])), w.t(nl, "Pager "), w.phi("phone", w.digits(5, "2345")), w.t(
            nl, "NPI "), w.phi("license", w.digits(10, "1")), w.t(nl)
    else:
        w.t("cc: "), n.clinician(r.choice(["dr", "dr_full", "md"])), w.t("; "), n.clinician("rn"), w.t(", "), n.facility()
        w.t(", "), n.street(), w.t(", "), n.place(5), w.t(nl)
    return Note(seed=seed, text=w.text(), patient=n.patient(), today=n.today, plants=w.plants, facts=w.facts)


def corpus(seeds) -> list[Note]:
    """The notes for ``seeds`` (an iterable of ints)."""
    return [note(s) for s in seeds]


@dataclass
class Score:
    """Recall per category, facts kept, and each miss (category, planted text, output around it)."""
    planted: dict[str, int] = field(default_factory=dict)
    removed: dict[str, int] = field(default_factory=dict)
    facts: int = 0
    kept: int = 0
    misses: list[tuple[int, str, str, str]] = field(default_factory=list)
    damaged: list[tuple[int, str]] = field(default_factory=list)

    @property
    def recall(self) -> float:
        return sum(self.removed.values()) / max(1, sum(self.planted.values()))

    @property
    def retention(self) -> float:
        return self.kept / max(1, self.facts)

    def by_category(self) -> dict[str, float]:
        return {c: self.removed.get(c, 0) / n for c, n in sorted(self.planted.items())}


TOKEN = re.compile(r"\w+|[^\w\s]")


def score(notes: list[Note], scrub: Callable[[Note], str]) -> Score:
    """Runs ``scrub`` on each note and scores it (see the module docstring)."""
    s = Score()
    for n in notes:
        out = scrub(n)
        _score_one(n, out, s)
    return s


def _score_one(n: Note, out: str, s: Score) -> None:
    src = [(m.group(), m.start()) for m in TOKEN.finditer(n.text)]
    dst = [m.group() for m in TOKEN.finditer(out)]
    kept = [False] * len(src)
    matcher = difflib.SequenceMatcher(None, [t for t, _ in src], dst, autojunk=False)
    for block in matcher.get_matching_blocks():
        for i in range(block.a, block.a + block.size):
            kept[i] = True
    starts = [p for _, p in src]
    for plant in n.plants:
        at, pos = plant.start, plant.start + len(plant.text)
        s.planted[plant.category] = s.planted.get(plant.category, 0) + 1
        lo = _bisect(starts, at)
        leaked = [src[i][0] for i in range(lo, len(src)) if starts[i] < pos and kept[i] and src[i][0] in plant.secrets]
        # A date leaks when two of its parts survive: a lone number may be the "4" of "4 years ago".
        if len(leaked) >= (2 if plant.category == "date" else 1):
            s.misses.append((n.seed, plant.category, plant.text, " ".join(dst[max(0, _out_index(matcher, lo) - 6):
                                                                            _out_index(matcher, lo) + 8])))
        else:
            s.removed[plant.category] = s.removed.get(plant.category, 0) + 1
    for fact in n.facts:
        s.facts += 1
        if fact in out:
            s.kept += 1
        else:
            s.damaged.append((n.seed, fact))


def _bisect(starts: list[int], at: int) -> int:
    return bisect.bisect_left(starts, at)


def _out_index(matcher: difflib.SequenceMatcher, i: int) -> int:
    """The output token position that source token ``i`` maps to (for showing a miss in context)."""
    for tag, a0, a1, b0, b1 in matcher.get_opcodes():
        if a0 <= i < a1 or (a0 == a1 == i):
            return b0 + min(i - a0, max(0, b1 - b0 - 1)) if tag == "equal" else b0
    return 0
