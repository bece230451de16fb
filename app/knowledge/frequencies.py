"""Real-world population frequencies of findings, mapped to HPO (``data/population_frequencies.json.gz``).

Why: the "no rare disease" background (``app/rank/background.py``) learned ``p0`` from 297
synthetic records, so ordinary findings the generator never produced (anxiety, arthralgia,
hearing loss, hyponatraemia, ...) looked rare. This table gives, for each HPO term it covers, the
share of persons in a real population whose health records carry the finding.

Source (the one used): **FinnGen release R8** endpoint case counts: 342,499 Finnish biobank
participants linked to the national hospital discharge, specialist outpatient, cause-of-death,
cancer, medication-reimbursement and (for some endpoints) primary-care registers; ~3,100 curated
ICD-based endpoints, each with ``num_cases`` / ``num_controls``. Taken from the per-release
phenotype table ``data/finngen_R8_pheno_n.tsv`` in github.com/dsgelab/gwasbot (commit
cac38345bdaa17c6b86c996505b7ef378e1c5640; dsgelab is a FIMM group within FinnGen), the same numbers
FinnGen shows in its public PheWeb/Risteys. Licence: FinnGen publishes its summary results freely
after a one-year embargo, asking for acknowledgement ("We want to acknowledge the participants and
investigators of the FinnGen study") and citation (Kurki et al., Nature 613:508-518, 2023); no
formal open licence is stated. Only aggregate counts are used. ``sources/README.md`` has the
details and the extract.

Method (``build``):

1. Persons: ``N`` = the largest ``num_cases + num_controls`` in the extract (the ``DEATH`` row:
   37,589 + 304,910 = 342,499, every participant).
2. Each endpoint's frequency is ``num_cases / N``: people with at least one record of it over all
   people in the database (sex-specific endpoints are thus shares of everyone, not of one sex).
3. Mapping to HPO: FinnGen gives names only (its ICD definitions are not in the table, and HPO
   cross-references SNOMED/UMLS, not ICD-10), so an endpoint maps to the HPO term (Phenotypic
   abnormality subtree, not obsolete) whose name or EXACT synonym equals its normalised name
   (lower case, British spelling made American, bracketed parts and trailing "unspecified" / "not
   elsewhere classified" / "NAS" dropped; a primary-name match beats synonym matches). A short
   hand-made crosswalk (``sources/finngen_r8_hpo_crosswalk.tsv``: endpoint -> HPO *label*,
   resolved against hp.obo at build time so a wrong label fails the build) maps endpoints whose
   names differ from HPO's ("All anxiety disorders" -> Anxiety, "Pain in joint" -> Arthralgia,
   "Hypo-osmolality and hyponatraemia" -> Hyponatremia, "Epilepsy" -> Seizure, "Dislocation of
   lens" -> Ectopia lentis, ...) and vetoes wrong name matches (label ``-``: "Diaphragmatic hernia"
   is mostly hiatus hernia in adults, not HPO's congenital term).
4. Several endpoints on one term: the maximum. A person with a more specific finding has the
   general one, so each term also takes the maximum over the terms below it (``direct`` lists the
   terms a source endpoint maps to itself). Frequencies are rounded to 3 significant digits.

These are frequencies of *recorded diagnoses* in a biobank population (median age at recruitment
~60, partly hospital-recruited): a lower bound for findings that are common but rarely coded
(obesity 5.4 % here against ~20 % measured), and the right scale for "how often an ordinary record
shows this". Lab-defined findings appear only as coded diagnoses (anaemia, hyponatraemia), not as
out-of-range results.

Measured (FinnGen R8 -> HPO 2025-01-16): 643 finding-like rows of the release table were
transcribed and screened (infections, neoplasm sites, pregnancy, drug and procedure endpoints
mostly have no HPO phenotype term and were left out); 393 endpoints mapped (249 by name, 144 by
the crosswalk), onto 371 HPO terms directly and 905 with a frequency after the maximum over
descendants. A second pass (2026) read the whole table again against the findings that real and
made-up records carry without a frequency and added 44 endpoints (1 by name, 43 by the
crosswalk): sepsis (A40/A41), diabetic and drug-induced hypoglycaemia, COPD-related respiratory
insufficiency -> Respiratory failure, psychotic disorders -> Psychosis, falls, alcohol and nicotine
dependence, haemorrhoids, pressure ulcer, contact dermatitis, cystitis, acute pyelonephritis,
forearm fracture, specific speech/language developmental disorders, malignant neoplasms of
breast, prostate, colon, brain, kidney and liver, benign colon/adrenal/bone neoplasms, ... An
endpoint narrower than its term gives that term a lower bound (cutaneous abscess -> Abscess,
basal cell carcinoma -> Carcinoma); an endpoint broader than a term never maps to it (sleep apnoea
is not obstructive sleep apnoea, hemiplegia not hemiparesis, "other headache syndromes" not
tension-type headache). Now 437 endpoints (250 by name, 187 by the crosswalk), 409 terms directly,
984 with a frequency. Anxiety 0.103, Arthralgia 0.0706, Hearing impairment 0.0827,
Hypercholesterolemia 0.0656, Hypertension 0.288, Obesity 0.0535, Anemia 0.0696, Thrombocytopenia
0.00483, Hyponatremia 0.0129, Acute kidney injury 0.0148, Seizure 0.0302, Intellectual disability
0.00305, Ectopia lentis 0.00106 ("Dislocation of lens", mostly acquired in this older population),
Hypoglycemia 0.019, Sepsis 0.0311, Respiratory failure 0.00857, Psychosis 0.0208, Falls 0.00578,
Arachnodactyly absent. Of the 356 distinct HPO terms in the present profiles of the 49 real
MIMIC-IV demo inpatients (``mimic-demo-dev.ndjson.gz``), 169 (47 %; 138 before the second pass)
get a frequency, 137 directly (108 before); weighted by records, 723 of 2,059 term occurrences
(35 %; 30 % before). The 297 Synthea records: 58 of 75 terms (49 before), 1,401 of 1,633
occurrences (86 %; 83 %). The uncovered ones are mostly out-of-range lab findings (abnormal blood
counts, hyperglycaemia, prolonged PT, hypocalcaemia, raised urea), which a diagnosis register does
not count, and symptoms: the R8 table has only two endpoints from ICD-10 chapter R (Anorexia,
Retention of urine), none for fever, nausea, vomiting, abdominal or chest pain, dyspnoea, cough,
syncope, dizziness, oedema, dysphagia, weight loss or fatigue, so these keep the floor.

Second source (2026): **published population prevalence of common symptoms and signs**
(``sources/symptom_prevalence.tsv``, hand-compiled; ``SYMPTOM_SOURCE``). FinnGen has almost no
chapter-R symptom endpoints, so ordinary symptoms looked rare. Each row: HPO *label* (resolved
against hp.obo at build time like the crosswalk: a wrong label fails the build), prevalence as a
share of persons, its period (point / 7-day / 4-week / 1-year / lifetime), population (country,
ages, n) and a citation (authors, year, journal, DOI or PMID). Figures are facts from the cited
literature, preferably systematic reviews and large population surveys; where sources differ a
middle value was taken and the row's ``note`` says so. They are *self-reported experiences*
(headache 0.52, fatigue 0.204, back pain 0.38, low back pain 0.232, arthralgia 0.34, rhinorrhea and
nasal congestion 0.34, insomnia 0.30, nocturia 0.515, snoring 0.35, falls 0.30 in people >=65, knee
pain 0.25 at >=55, dyspnea 0.10, constipation 0.14, reflux 0.14, pruritus 0.164, tinnitus 0.144,
chronic cough 0.118, urinary incontinence 0.094, diarrhoea 0.087 in 4 weeks, dyspepsia 0.084,
enuresis 0.073 in children, vertigo 0.05, dysphagia 0.04, hallucinations 0.052 lifetime, syncope
0.19 lifetime, abdominal pain 0.126 in children), an upper scale for "how often a record shows
this" where FinnGen's recorded diagnoses are a lower one. 27 rows. Combination: per HPO term the
maximum of the two sources, then the maximum over descendants as before; ``direct_sources`` maps
each directly mapped term to the source that gave its value (``direct`` stays the sorted list).
The symptom table raised 27 terms directly (all 27 rows beat FinnGen; 16 were new terms), 1,005
terms now have a frequency (984 before). Coverage of present-term occurrences: MIMIC-IV demo (49
inpatients) 176 of 356 terms, 737 of 2,059 occurrences (36 %; 169 and 723, 35 %, before); Synthea
(297 records) 61 of 75 terms, 1,481 of 1,633 occurrences (91 %; 58 and 1,401, 86 %, before).
No citable population figure was found (in this pass) for fever, nausea, vomiting, malaise,
chest pain, palpitations, oedema, weight loss, myalgia, joint stiffness, sore throat, rash,
polyuria, lymphadenopathy, epistaxis, delirium/confusion, tremor, paresthesia, irritability,
muscle weakness, cough/fever in children; dizziness has no HPO term (only a RELATED synonym of
Vertigo); these keep FinnGen's value or the floor.

Third FinnGen pass (2026): the R8 table was read again, chapter by chapter, against the present
terms of the MIMIC-IV demo and Synthea profiles that still had no frequency, and 54 endpoints were
added (4 by name, 50 by the crosswalk), each row copied exactly and checked against the source
a second time. Most of the remaining gaps have no R8 endpoint at all (no R-chapter symptoms; no
separate endpoint for sick sinus syndrome, pericardial effusion, tamponade, atelectasis, portal
hypertension, splenomegaly, ascites, melena, pancytopenia, hypercalcaemia, hypomagnesaemia, CKD
stages, bradycardia, atrial flutter alone, obstructive sleep apnoea, cerebral contusion or rib
fractures), and the lab-defined findings stay uncovered as before. Added, mostly as lower bounds
from a narrower endpoint: DVT of lower extremities + pulmonary embolism -> Thromboembolism
(0.0433), glomerular diseases -> Nephropathy (0.0148), unstable angina -> Chest pain (0.0344),
drug anaphylactic shock -> Shock, C. difficile enterocolitis -> Enterocolitis, necrotizing
fasciitis -> Fasciitis, other paralytic syndromes -> Paralysis, other diseases of spinal cord ->
Spinal cord lesion, benign neoplasm of rectum -> Rectal polyposis (EXACT synonym "Rectal
polyps"), isolated proteinuria -> Proteinuria, ARDS, pyothorax, lung abscess, liver fibrosis and
cirrhosis -> Hepatic fibrosis, conduction disorders, ventral hernia, achalasia, femur fracture,
collapsed vertebra -> Vertebral compression fracture, "Pain (limb, back, neck, head
abdominally)" -> Pain (0.442), cancer-register sites mapped to the site's neoplasm term (pancreas,
stomach, ovary, bladder, testis, cervix, corpus uteri, thyroid, oesophagus, lung; any malignant
neoplasm -> Neoplasm 0.207), melanoma of skin, mesothelioma, meningioma, glioblastoma, DLBCL ->
B-cell lymphoma, uterine leiomyoma, lipoma, haemangioma, lymphangioma, splenic infarction,
amblyopia, impacted cerumen, chronic mastoiditis, dental caries, recurrent aphthae, tooth
agenesis, oral leukoplakia, ... Now 491 endpoints (254 by name, 237 by the crosswalk), 479 terms
directly (452 from FinnGen, 27 from the symptom table), 1,105 with a frequency (1,005 before).
MIMIC-IV demo: 184 of 356 terms (176 before), 155 directly (144), 756 of 2,059 occurrences
(36.7 %; 737, 35.8 % before). Synthea: 64 of 75 terms (61), 1,495 of 1,633 occurrences (91.5 %;
1,481, 90.7 %).

Second pass of the symptom table (2026): 27 more rows (54 now), each from a population survey,
cohort or systematic review found and checked through its abstract (citations trimmed to what the
source showed; unchecked authors or DOIs are marked so). The priority was what real inpatient
records carry: noncardiac chest pain 0.13 (a lower bound for chest pain), obstructive sleep apnoea
0.0975 (AHI >=15), essential tremor -> Tremor 0.006, delirium 0.015 (>=65), sick sinus syndrome
0.0141 (17-year cumulative incidence), atrial flutter 0.00088 (1-year incidence), peripheral oedema
0.195 (>=51), impaired fasting glucose -> Hyperglycemia 0.257, weekly nausea 0.016, Rome IV nausea
and vomiting 0.022, restless legs 0.05, pericardial effusion 0.027 (echo cohort), bradycardia 0.05
(HR <50), joint stiffness 0.524 (>=70), throat discomfort -> Pharyngalgia 0.54 (12-month),
epistaxis 0.0017 (ED visits a year, a lower bound), and measured lab findings where FinnGen has only
coded diagnoses: albuminuria 0.079, microscopic haematuria 0.062, dipstick proteinuria 0.037,
hyponatraemia 0.0186, hyperkalaemia 0.006, hypokalaemia 0.136 (records of tested adults),
hypomagnesaemia 0.025, neutropenia 0.0124, lymphopenia 0.025, anaemia 0.0745, hepatic steatosis
(NAFLD) 0.276. 18 of the 27 are new terms; the other 9 raised FinnGen's recorded value. Now 497
terms directly (443 from FinnGen, 54 from the symptom table), 1,135 with a frequency (1,105
before). MIMIC-IV demo: 195 of 356 terms (184 before), 166 directly (155), 885 of 2,059
occurrences (43.0 %; 756, 36.7 % before). Synthea: 67 of 75 terms (64), 1,591 of 1,633 occurrences
(97.4 %; 1,495, 91.5 %). Still no citable population figure for fever, vomiting alone,
palpitations, weight loss, lymphadenopathy, splenomegaly, hepatomegaly, ascites, portal
hypertension, atelectasis, hypoxaemia, haemoptysis, paresthesia, muscle weakness, myalgia, rash,
cachexia, dehydration, rib fractures or hemiparesis (stroke survivors' share only, not a population
figure); the largest remaining gaps in the MIMIC profiles are out-of-range blood counts and
chemistry (low red cells/haemoglobin/haematocrit, prolonged PT, leukocytosis, hypocalcaemia,
raised urea, hypophosphataemia).

Sources looked at and not used (measured in ``sources/README.md``): OHDSI ConceptPrevalence
(ohdsi-studies / aostropolets / ABMI repositories hold only the R/SQL package, no counts; the
network results live in a private database), COHD (Columbia, 5.4 M patients, OMOP concepts; data
only on figshare, not reachable here, API code CC BY-NC-SA), OARD (HPO-level counts from the same
Columbia data, served by an API only), BioBank Japan phenotype table (disease-ascertained, not a
population), Pan-UKB manifest (on Google Cloud only).
"""
from __future__ import annotations

import csv
import gzip
import json
import math
import re
from pathlib import Path

from .hpo import OBO_NAME, PHENOTYPIC_ABNORMALITY, obo_version, read_obo, synonyms
from .paths import DATA_DIR, DEFAULT_SOURCE, write_json_gz

SOURCES_DIR = Path(__file__).resolve().parent / "sources"
EXTRACT = "finngen_r8_endpoints.tsv"
CROSSWALK = "finngen_r8_hpo_crosswalk.tsv"
SYMPTOMS = "symptom_prevalence.tsv"
DEFAULT_PATH = DATA_DIR / "population_frequencies.json.gz"
VETO = "-"
SOURCE = {
    "name": "FinnGen R8 endpoint case counts",
    "version": "R8 (public release 2022); table data/finngen_R8_pheno_n.tsv at "
               "github.com/dsgelab/gwasbot commit cac38345bdaa17c6b86c996505b7ef378e1c5640",
    "licence": "FinnGen public summary results: free use with acknowledgement of the FinnGen study "
               "and citation of Kurki et al. 2023 (Nature 613:508-518); no formal licence stated",
    "url": "https://www.finngen.fi/en/access_results",
    "population": "Finnish biobank participants with national health-register follow-up "
                  "(hospital, specialist outpatient, cause of death, cancer, reimbursement registers)",
}

SYMPTOM_SOURCE = {
    "name": "Published population prevalence of common symptoms and signs",
    "version": "hand-compiled 2026 from the literature cited per row (sources/symptom_prevalence.tsv)",
    "licence": "facts (prevalence figures) from the cited publications, each row with its citation; "
               "the table itself was written for this project",
    "url": "see the citation (DOI/PMID) of each row in sources/symptom_prevalence.tsv",
    "population": "general-population surveys and systematic reviews, mostly adults in high-income "
                  "countries (childhood rows: children); country, ages and n per row",
    "persons": "various, see rows",
}

_SPELLING = (("oesoph", "esoph"), ("oedem", "edem"), ("haem", "hem"), ("anaem", "anem"),
             ("aemia", "emia"), ("colour", "color"), ("paediat", "pediat"), ("ae", "e"))
_TRAILING = re.compile(r",?\s*(other/unspecified|unspecified|not elsewhere classified|nas)$")


def normalise(text: str) -> str:
    """The comparable form of a source or HPO label (see the module doc, step 3)."""
    text = re.sub(r"\([^)]*\)|\[[^\]]*\]", " ", text.lower())
    for british, american in _SPELLING:
        text = text.replace(british, american)
    text = _TRAILING.sub("", text.strip())
    return " ".join(re.findall(r"[a-z0-9]+", text))


def read_extract(path) -> list[dict]:
    """Rows of a FinnGen-style extract: ``phenocode``, ``name``, ``num_cases``, ``num_controls``."""
    with open(path, encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh, delimiter="\t"))
    for row in rows:
        row["num_cases"] = int(row["num_cases"])
        row["num_controls"] = int(row["num_controls"])
    return rows


def read_crosswalk(path) -> dict[str, str]:
    """Endpoint code -> HPO label (``-`` vetoes a name match); an absent file is an empty crosswalk."""
    path = Path(path)
    if not path.exists():
        return {}
    with open(path, encoding="utf-8", newline="") as fh:
        return {row["phenocode"]: row["hpo_label"] for row in csv.DictReader(fh, delimiter="\t")}


def read_symptoms(path) -> list[dict]:
    """Rows of the symptom-prevalence table (``hpo_label``, ``prevalence`` as a proportion, ``period``,
    ``population``, ``n``, ``citation``, ``note``); an absent file is no rows. A row without a
    citation or with a prevalence outside (0, 1) is an error."""
    path = Path(path)
    if not path.exists():
        return []
    with open(path, encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh, delimiter="\t"))
    for row in rows:
        row["prevalence"] = float(row["prevalence"])
        if not 0 < row["prevalence"] < 1:
            raise ValueError(f"symptom row {row['hpo_label']!r}: prevalence {row['prevalence']} not in (0, 1)")
        if not (row.get("citation") or "").strip():
            raise ValueError(f"symptom row {row['hpo_label']!r} has no citation")
    return rows


def _ontology(obo_path):
    """Live Phenotypic-abnormality terms of hp.obo: ({id: name}, {id: [parents]}, {norm label: ids})."""
    _, stanzas = read_obo(obo_path)
    names, parents, children = {}, {}, {}
    for st in stanzas:
        if st.get("is_obsolete") == ["true"]:
            continue
        hpo = st["id"][0]
        names[hpo] = st["name"][0]
        parents[hpo] = [p.split()[0] for p in st.get("is_a", ())]
        for p in parents[hpo]:
            children.setdefault(p, []).append(hpo)
    keep, stack = {PHENOTYPIC_ABNORMALITY}, [PHENOTYPIC_ABNORMALITY]
    while stack:
        for child in children.get(stack.pop(), ()):
            if child not in keep:
                keep.add(child)
                stack.append(child)
    by_name: dict[str, set[str]] = {}
    by_synonym: dict[str, set[str]] = {}
    for st in stanzas:
        hpo = st["id"][0]
        if hpo not in keep or st.get("is_obsolete") == ["true"]:
            continue
        by_name.setdefault(normalise(st["name"][0]), set()).add(hpo)
        for text, kind in synonyms(st.get("synonym", [])):
            if kind.startswith("EXACT"):
                by_synonym.setdefault(normalise(text), set()).add(hpo)
    names = {h: n for h, n in names.items() if h in keep}
    parents = {h: [p for p in ps if p in keep] for h, ps in parents.items() if h in keep}
    return names, parents, by_name, by_synonym


def map_endpoint(row: dict, crosswalk: dict, labels: dict, by_name: dict, by_synonym: dict) -> list[str]:
    """HPO ids one extract row maps to (crosswalk first, then exact normalised name, then synonym)."""
    if row["phenocode"] in crosswalk:
        label = crosswalk[row["phenocode"]]
        if label == VETO:
            return []
        if label.lower() not in labels:
            raise ValueError(f"crosswalk label {label!r} ({row['phenocode']}) is not an HPO term name")
        return [labels[label.lower()]]
    key = normalise(row["name"])
    return sorted(by_name.get(key) or by_synonym.get(key) or ())


def _round(value: float) -> float:
    """``value`` to 3 significant digits."""
    if value <= 0:
        return 0.0
    return round(value, 2 - int(math.floor(math.log10(value))))


def build(source_dir=None, sources_dir=SOURCES_DIR) -> dict:
    """Compile the frequency table from the committed extract and crosswalk plus ``hp.obo``.

    ``source_dir`` holds ``hp-2025-01-16.obo.gz`` (default ``../shared/data``); ``sources_dir`` the
    extract and crosswalk (default ``app/knowledge/sources``).
    """

    source_dir = Path(source_dir or DEFAULT_SOURCE)
    sources_dir = Path(sources_dir)
    rows = read_extract(sources_dir / EXTRACT)
    crosswalk = read_crosswalk(sources_dir / CROSSWALK)
    symptoms = read_symptoms(sources_dir / SYMPTOMS)
    names, parents, by_name, by_synonym = _ontology(source_dir / OBO_NAME)
    labels = {n.lower(): h for h, n in names.items()}
    persons = max(r["num_cases"] + r["num_controls"] for r in rows)
    direct: dict[str, float] = {}
    origin: dict[str, str] = {}
    used = 0
    for row in rows:
        terms = map_endpoint(row, crosswalk, labels, by_name, by_synonym)
        used += bool(terms)
        share = row["num_cases"] / persons
        for hpo in terms:
            if share > direct.get(hpo, 0.0):
                direct[hpo], origin[hpo] = share, SOURCE["name"]
    for row in symptoms:
        hpo = labels.get(row["hpo_label"].lower())
        if hpo is None:
            raise ValueError(f"symptom label {row['hpo_label']!r} is not an HPO term name")
        if row["prevalence"] > direct.get(hpo, 0.0):
            direct[hpo], origin[hpo] = row["prevalence"], SYMPTOM_SOURCE["name"]
    freq: dict[str, float] = {}
    for hpo, share in direct.items():
        stack, seen = [hpo], {hpo}
        while stack:
            term = stack.pop()
            freq[term] = max(freq.get(term, 0.0), share)
            for parent in parents.get(term, ()):
                if parent not in seen:
                    seen.add(parent)
                    stack.append(parent)
    sources = [dict(SOURCE, persons=persons, endpoints_used=used)]
    if symptoms:
        sources.append(dict(SYMPTOM_SOURCE, rows_used=len(symptoms)))
    return {
        "sources": sources,
        "hpo_version": obo_version(source_dir / OBO_NAME),
        "method": "share of persons with >=1 record of the endpoint (FinnGen) or published population "
                  "prevalence (symptom table); max over sources and endpoints per HPO term and over "
                  "each term's descendants; 3 significant digits",
        "direct": sorted(direct),
        "direct_sources": {h: origin[h] for h in sorted(origin)},
        "frequencies": {h: _round(freq[h]) for h in sorted(freq)},
    }


def write(table: dict, path=DEFAULT_PATH) -> Path:
    """Write ``table`` as compact gzipped JSON with fixed bytes (``paths.write_json_gz``)."""
    return write_json_gz(table, path)


def main_build(source_dir) -> Path:
    """Compile and write ``data/population_frequencies.json.gz``; returns its path."""
    return write(build(source_dir))


def load(path=DEFAULT_PATH) -> dict:
    """The compiled table: ``{"sources": [...], "frequencies": {"HP:...": share}}`` (plus ``direct``,
    ``method``, ``hpo_version``); empty frequencies when the file is missing."""
    path = Path(path)
    if not path.exists():
        return {"sources": [], "frequencies": {}, "direct": []}
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        return json.load(fh)


if __name__ == "__main__":  # pragma: no cover - manual rebuild

    print(main_build(DEFAULT_SOURCE))
