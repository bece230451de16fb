"""The real-world frequency table: the compile step on a tiny made-up extract, and the shipped file."""
import gzip

import pytest

from app.knowledge import frequencies

OBO = """format-version: 1.2
data-version: hp/releases/test

[Term]
id: HP:0000118
name: Phenotypic abnormality

[Term]
id: HP:0000001
name: Cardio root
is_a: HP:0000118 ! Phenotypic abnormality

[Term]
id: HP:0000822
name: Hypertension
synonym: "High blood pressure" EXACT []
is_a: HP:0000001 ! Cardio root

[Term]
id: HP:0000002
name: Malignant hypertension
is_a: HP:0000822 ! Hypertension

[Term]
id: HP:0000739
name: Anxiety
is_a: HP:0000118 ! Phenotypic abnormality

[Term]
id: HP:0001903
name: Anemia
is_a: HP:0000118 ! Phenotypic abnormality

[Term]
id: HP:0000003
name: Old term
is_obsolete: true
"""

EXTRACT = """phenocode\tname\tnum_cases\tnum_controls
DEATH\tAny death\t100\t900
HT\tHypertension, unspecified\t300\t700
HT_MAL\tMalignant hypertension\t10\t990
HBP\tHigh blood pressure\t250\t750
ANX\tAll anxiety disorders\t120\t500
ANX2\tAnxiety\t50\t950
ANAEMIA\tAnaemias (mode)\t70\t300
VETOED\tAnxiety\t900\t100
"""

CROSSWALK = "phenocode\thpo_label\nANX\tAnxiety\nVETOED\t-\n"


@pytest.fixture
def dirs(tmp_path):
    source = tmp_path / "shared"
    source.mkdir()
    with gzip.open(source / frequencies.OBO_NAME, "wt", encoding="utf-8") as fh:
        fh.write(OBO)
    sources = tmp_path / "sources"
    sources.mkdir()
    (sources / frequencies.EXTRACT).write_text(EXTRACT, encoding="utf-8")
    (sources / frequencies.CROSSWALK).write_text(CROSSWALK, encoding="utf-8")
    return source, sources


def test_normalise_spelling_brackets_and_unspecified():
    assert frequencies.normalise("Anaemias (mode)") == "anemias"
    assert frequencies.normalise("Hypo-osmolality and hyponatraemia") == "hypo osmolality and hyponatremia"
    assert frequencies.normalise("Thrombocytopenia, unspecified") == "thrombocytopenia"
    assert frequencies.normalise("Papilloedema [x]") == "papilledema"


def test_build_share_of_persons_max_and_propagation(dirs):
    table = frequencies.build(*dirs)
    freq = table["frequencies"]
    # N = the largest cases + controls (1000); several endpoints on one term: the maximum
    assert freq["HP:0000822"] == 0.3  # "Hypertension, unspecified" 300 beats synonym match "High blood pressure" 250
    assert freq["HP:0000002"] == 0.01
    assert freq["HP:0000739"] == 0.12  # crosswalk ANX (120) beats name match ANX2 (50); VETOED (900) ignored
    # parents take the maximum of what is below them; the root too
    assert freq["HP:0000001"] == 0.3
    assert freq["HP:0000118"] == 0.3
    # "Anaemias" is not "Anemia" (no stemming), and obsolete terms never appear
    assert "HP:0001903" not in freq and "HP:0000003" not in freq
    assert table["direct"] == ["HP:0000002", "HP:0000739", "HP:0000822"]
    source = table["sources"][0]
    assert source["persons"] == 1000 and source["endpoints_used"] == 5
    assert {"name", "version", "licence", "url", "population", "persons"} <= set(source)
    assert table["hpo_version"] == "hp/releases/test"


def test_crosswalk_label_must_exist(dirs):
    source, sources = dirs
    (sources / frequencies.CROSSWALK).write_text("phenocode\thpo_label\nANX\tAnxiousness\n", encoding="utf-8")
    with pytest.raises(ValueError, match="Anxiousness"):
        frequencies.build(source, sources)


def test_rounding_to_three_significant_digits():
    assert frequencies._round(0.123456) == 0.123
    assert frequencies._round(0.00123456) == 0.00123
    assert frequencies._round(0.0) == 0.0


def test_write_is_byte_identical_and_load_roundtrips(dirs, tmp_path):
    table = frequencies.build(*dirs)
    a = frequencies.write(table, tmp_path / "a.json.gz").read_bytes()
    b = frequencies.write(frequencies.build(*dirs), tmp_path / "b.json.gz").read_bytes()
    assert a == b
    assert frequencies.load(tmp_path / "a.json.gz") == table


def test_load_missing_file_is_empty(tmp_path):
    loaded = frequencies.load(tmp_path / "nope.json.gz")
    assert loaded["frequencies"] == {} and loaded["sources"] == []


def test_shipped_table_has_provenance_and_sensible_order():
    table = frequencies.load()
    source = table["sources"][0]
    for key in ("name", "version", "licence", "url", "population", "persons"):
        assert source[key]
    assert source["persons"] == 342499
    freq = table["frequencies"]
    assert len(freq) > 500
    assert all(0 < v <= 1 for v in freq.values())
    hypertension = freq["HP:0000822"]
    assert 0.1 < hypertension < 0.5
    # common findings far more frequent than a Marfan sign, which has no entry at all
    assert "HP:0001166" not in freq  # Arachnodactyly
    assert hypertension > 100 * freq["HP:0001083"]  # Ectopia lentis
    for common in ("HP:0000739", "HP:0002829", "HP:0000365", "HP:0002902", "HP:0001919", "HP:0001903"):
        assert freq[common] > 0.005, common


def test_shipped_table_covers_common_inpatient_and_childhood_findings():
    """Findings that looked rare (the 1e-3 floor) in real inpatient records before the 2026 extension."""
    freq = frequencies.load()["frequencies"]
    for term in ("HP:0001943",  # Hypoglycemia (diabetic hypoglycaemia)
                 "HP:0100806",  # Sepsis (other septicaemia)
                 "HP:0002878",  # Respiratory failure (COPD-related respiratory insufficiency)
                 "HP:0000709",  # Psychosis
                 "HP:0033543",  # Addictive nicotine use
                 "HP:0000750"):  # Delayed speech and language development
        assert 1e-3 < freq[term] < 0.1, term
    assert freq["HP:0002527"] == 0.3  # Falls: FinnGen's recorded 0.00578 raised by the symptom table (>=65 a year)


def test_committed_crosswalk_maps_extract_rows_or_vetoes():
    rows = {r["phenocode"] for r in frequencies.read_extract(frequencies.SOURCES_DIR / frequencies.EXTRACT)}
    crosswalk = frequencies.read_crosswalk(frequencies.SOURCES_DIR / frequencies.CROSSWALK)
    assert {code for code, label in crosswalk.items() if label != frequencies.VETO} <= rows


def test_symptom_rows_resolve_and_are_cited():
    """Every row of the symptom-prevalence table names a live HPO term, has a citation and a proportion."""
    from app.knowledge.build import DEFAULT_SOURCE

    rows = frequencies.read_symptoms(frequencies.SOURCES_DIR / frequencies.SYMPTOMS)
    assert len(rows) >= 25
    names = frequencies._ontology(DEFAULT_SOURCE / frequencies.OBO_NAME)[0]
    labels = {n.lower() for n in names.values()}
    for row in rows:
        assert row["hpo_label"].lower() in labels, row["hpo_label"]
        assert 0 < row["prevalence"] < 1, row["hpo_label"]
        assert row["citation"].strip() and row["period"].strip() and row["population"].strip()
        assert "doi:" in row["citation"].lower() or "pmid" in row["citation"].lower() or "DOI not checked" in row["citation"]


def test_symptom_table_second_source_max_and_direct_sources(dirs):
    source, sources = dirs
    (sources / frequencies.SYMPTOMS).write_text(
        "hpo_label\tprevalence\tperiod\tpopulation\tn\tcitation\tnote\n"
        "Anxiety\t0.3\t1-year\tX, adults\t100\tA et al. 2020. doi:10/x\t\n"
        "Malignant hypertension\t0.005\tpoint\tX\t100\tB 2021. PMID:1\t\n", encoding="utf-8")
    table = frequencies.build(source, sources)
    freq = table["frequencies"]
    assert freq["HP:0000739"] == 0.3  # symptom row beats FinnGen's 0.12
    assert freq["HP:0000002"] == 0.01  # FinnGen's 0.01 beats the symptom row's 0.005
    assert table["direct"] == ["HP:0000002", "HP:0000739", "HP:0000822"]
    assert table["direct_sources"]["HP:0000739"] == frequencies.SYMPTOM_SOURCE["name"]
    assert table["direct_sources"]["HP:0000002"] == frequencies.SOURCE["name"]
    assert [s["name"] for s in table["sources"]] == [frequencies.SOURCE["name"], frequencies.SYMPTOM_SOURCE["name"]]
    assert table["sources"][1]["persons"] == "various, see rows"


def test_symptom_label_must_exist(dirs):
    source, sources = dirs
    (sources / frequencies.SYMPTOMS).write_text(
        "hpo_label\tprevalence\tperiod\tpopulation\tn\tcitation\tnote\nAnxiousness\t0.3\tp\tX\t1\tC. doi:1\t\n",
        encoding="utf-8")
    with pytest.raises(ValueError, match="Anxiousness"):
        frequencies.build(source, sources)


def test_shipped_table_has_common_symptoms():
    table = frequencies.load()
    freq = table["frequencies"]
    for term in ("HP:0002315",  # Headache
                 "HP:0012378",  # Fatigue
                 "HP:0003418",  # Back pain
                 "HP:0002094",  # Dyspnea
                 "HP:0002019",  # Constipation
                 "HP:0000360"):  # Tinnitus
        assert freq[term] > 1e-2, term
        assert table["direct_sources"][term] == frequencies.SYMPTOM_SOURCE["name"], term
    assert table["sources"][1]["persons"] == "various, see rows"
    assert set(table["direct"]) == set(table["direct_sources"])
