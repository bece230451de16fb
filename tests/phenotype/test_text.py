"""The HPO lexicon and the clinical-text recognizer, against the committed lexicon file."""
from __future__ import annotations

import pytest

from app.knowledge.hpo import load_lexicon
from app.phenotype.text import SHORTHAND, get_matcher, recognize

SEIZURE, ATAXIA, HEADACHE = "HP:0001250", "HP:0001251", "HP:0002315"
MICROCEPHALY, SHORT_STATURE, HEARING = "HP:0000252", "HP:0004322", "HP:0000365"
HYPOTONIA = "HP:0001252"


def found(text: str) -> dict[str, object]:
    """hpo → its (single) mention in ``text``."""
    return {m.hpo: m for m in recognize(text)}


@pytest.fixture(scope="module")
def lexicon():
    return load_lexicon()


def test_exact_name_with_span():
    text = "Exam notable for microcephaly."
    m = found(text)[MICROCEPHALY]
    assert (m.start, m.end, m.text) == (17, 29, "microcephaly")
    assert text[m.start:m.end] == "microcephaly"
    assert not (m.negated or m.family or m.hypothetical)


def test_synonym_plural_and_case():
    text = "He has had SEIZURES since infancy; Epileptic Seizures persist."
    ms = [m for m in recognize(text) if m.hpo == SEIZURE]
    assert [m.text for m in ms] == ["SEIZURES", "Epileptic Seizures"]


def test_longest_match_wins():
    ms = recognize("bilateral sensorineural hearing loss")
    assert [(m.hpo, m.start, m.end) for m in ms] == [("HP:0008619", 0, 36)]


def test_word_order_and_stop_words():
    assert "HP:0001643" in found("a patent ductus arteriosus was closed")
    assert "HP:0009778" in found("hypoplasia of the thumbs")  # Short thumb / thumb hypoplasia
    assert SHORT_STATURE not in found("short. Stature")  # no match across a sentence break


def test_problem_list_entries():
    assert SHORT_STATURE in found("short stature")
    assert found("hx of seizures")[SEIZURE].historical
    assert HEARING in found("bilat hearing loss")


def test_abbreviation_is_case_sensitive():
    assert "HP:0002020" in found("Treated for GERD.")
    assert "HP:0002020" not in found("gerd")


def test_negation_scoped_to_its_sentence():
    ms = found("No seizures. Has ataxia.")
    assert ms[SEIZURE].negated
    assert not ms[ATAXIA].negated


def test_negation_stops_at_but():
    ms = found("No seizures but ataxia is worsening.")
    assert ms[SEIZURE].negated and not ms[ATAXIA].negated


def test_denies_and_negative_for_a_list():
    assert found("Patient denies headaches.")[HEADACHE].negated
    ms = found("Negative for microcephaly or short stature.")
    assert ms[MICROCEPHALY].negated and ms[SHORT_STATURE].negated


def test_post_negation():
    assert found("Hepatomegaly was ruled out on ultrasound.")["HP:0002240"].negated


def test_pseudo_negation_is_not_negation():
    assert not found("No increase in seizures since last visit.")[SEIZURE].negated


def test_family_history_not_the_patient():
    assert found("Mother has hearing loss.")[HEARING].family
    assert found("Family history of short stature.")[SHORT_STATURE].family
    assert found("His brother had seizures.")[SEIZURE].family
    assert not found("Seizures since age 2.")[SEIZURE].family


def test_a_relative_who_reports_is_the_informant_not_the_experiencer():
    # Paediatric notes: the parents tell the patient's history.
    assert not found("Parents report seizures since infancy.")[SEIZURE].family
    assert not found("Mother states that he has had hypotonia from birth.")[HYPOTONIA].family
    assert not found("Per mother, ataxia is worse in the evening.")[ATAXIA].family
    assert not found("According to her father, headaches started last year.")[HEADACHE].family
    m = found("Mother denies seizures.")[SEIZURE]
    assert m.negated and not m.family
    # ... while what the informant tells of a relative stays the relative's
    assert found("Mother reports that her brother had seizures.")[SEIZURE].family
    assert found("Mother has hearing loss.")[HEARING].family
    assert found("Mother noted to have hearing loss.")[HEARING].family


def test_family_history_section():
    text = "Family History:\nhearing loss in several relatives\n\nExam: hypotonia"
    ms = found(text)
    assert ms[HEARING].family and not ms[HYPOTONIA].family


def test_a_finding_confirmed_after_it_is_no_hypothesis():
    assert not found("Previously evaluated for seizures, which persist.")[SEIZURE].hypothetical
    assert not found("Evaluated for hypotonia, which was confirmed on exam.")[HYPOTONIA].hypothetical
    assert found("Evaluated for hypotonia.")[HYPOTONIA].hypothetical
    assert found("Evaluate for seizures; ataxia persists.")[SEIZURE].hypothetical


def test_hypotheticals_flagged():
    assert found("Evaluate for hypotonia.")[HYPOTONIA].hypothetical
    assert found("Return if seizures develop.")[SEIZURE].hypothetical
    assert found("He is at risk of hearing loss.")[HEARING].hypothetical
    assert not found("Evaluate for hypotonia.")[HYPOTONIA].negated


def test_plural_prefers_multiple_term():
    assert "HP:0001012" in found("several lipomas on the back")  # Multiple lipomas


def test_coordination_shares_the_head_noun():
    ms = found("palmar and plantar pits")
    assert {"HP:0010610", "HP:0010612"} <= set(ms)


def test_hyphenated_prefix_is_joined():
    assert "HP:0004467" in found("pre-auricular pit")


def test_stray_gerund_synonym_not_matched():
    assert found("collecting urine for 24 hours") == {}


def test_empty_and_plain_text():
    assert recognize("") == []
    assert recognize("The visit went well.") == []


def test_shorthand_targets_exist():
    vocab = get_matcher().vocab
    assert all(w in vocab for w in SHORTHAND.values() if w != "history")


def test_lexicon_names_and_ids(lexicon):
    assert lexicon.version.endswith("2025-01-16")
    assert lexicon.name(SEIZURE) == "Seizure"
    assert lexicon.current(SEIZURE) == SEIZURE
    assert lexicon.current("HP:9999999") is None


def test_alt_and_obsolete_ids_resolve(lexicon):
    alt, primary = next((a, p) for a, p in sorted(lexicon.alt_ids.items()) if p in lexicon)
    assert lexicon.current(alt) == primary
    old, new = next((o, n) for o, n in sorted(lexicon.replaced_by.items()) if n in lexicon)
    assert lexicon.current(old) == new
    assert lexicon.name(old) == lexicon.name(new)


def test_by_snomed(lexicon):
    assert SEIZURE in lexicon.by_snomed("91175000")
    assert lexicon.by_snomed("0") == []


def test_search_autocomplete(lexicon):
    assert lexicon.search("seiz")[0] == (SEIZURE, "Seizure")
    assert lexicon.search("Short stat")[0] == (SHORT_STATURE, "Short stature")
    hits = lexicon.search("hear loss", limit=5)
    assert len(hits) == 5 and all("hear" in label.lower() for _, label in hits)
    assert lexicon.search("") == []
    assert lexicon.search("zzzzqx") == []


def test_comma_list_shares_the_head_noun():
    ms = found("branchial, otic and renal anomalies")
    assert {"HP:0009794", "HP:0000598", "HP:0000077"} <= set(ms)  # branchial, ear, kidney
    ms = found("renal, hepatic and pancreatic cysts")
    assert {"HP:0001407", "HP:0001737"} <= set(ms)  # each reading keeps its own match


def test_comma_list_with_head_first_and_serial_comma():
    assert "HP:0001407" in found("cysts of the kidney, liver, and pancreas")  # hepatic cysts


def test_comma_list_of_findings_adds_nothing():
    assert set(found("seizures, hypotonia and ataxia")) == {SEIZURE, HYPOTONIA, ATAXIA}


def test_abbreviation_defined_in_text():
    ms = [m for m in recognize("Two basal cell carcinomas (BCCs) were removed; more BCCs followed.")]
    assert [m.text for m in ms if m.hpo == "HP:0002671"] == ["basal cell carcinomas", "BCCs", "BCCs"]


def test_abbreviation_defined_as_something_else_is_not_the_lexicon_one():
    text = "We queried the Gene Expression Regulation Database (GERD); GERD lists it."
    assert "HP:0002020" not in found(text)


def test_latin_plural_prefers_multiple_term():
    assert "HP:0001054" in found("nevi on the trunk")  # Numerous nevi


def test_participle_and_gerund_forms():
    assert "HP:0005449" in found("bridging of the sella turcica")  # Bridged sella turcica
    assert "HP:0000678" in found("crowded teeth")  # Dental crowding
    assert "HP:0000465" in found("neck webbing")  # Webbed neck


def test_anatomical_adjectives():
    assert "HP:0000598" in found("otic anomalies")  # Abnormality of the ear
    assert "HP:0000478" in found("ophthalmic abnormalities")  # Abnormality of the eye


@pytest.mark.parametrize("text, hpo", [
    ("The infant was hypotonic.", HYPOTONIA),
    ("He is microcephalic.", MICROCEPHALY),
    ("Gait was ataxic.", "HP:0002066"),  # gait ataxia
    ("She was noted to be deaf.", HEARING),
    ("The boy was epileptic.", SEIZURE),
    ("Spastic legs.", "HP:0001257"),
    ("Joints were hypermobile.", "HP:0001382"),
    ("Thrombocytopenic and neutropenic.", "HP:0001873"),
])
def test_adjective_finds_its_noun(text, hpo):
    assert hpo in found(text)


def test_adjective_keeps_its_context():
    assert found("The infant was not hypotonic.")[HYPOTONIA].negated
    assert found("Her brother is microcephalic.")[MICROCEPHALY].family


def test_adjective_folding_keeps_distinct_terms():
    assert "HP:0032547" not in found("The infant was hypotonic.")  # not the eye's hypotony
    assert not found("A double-blind trial.")  # a compound is not blindness


def test_enlarged_and_dilated_organs():
    assert "HP:0001744" in found("He had an enlarged spleen.")
    assert "HP:0004942" in found("Echo showed a dilated aorta.")
    assert "HP:0004942" in found("Aortic dilatation was noted.")


def test_word_order_of_prose():
    assert "HP:0003701" in found("There was weakness of the proximal muscles.")
    assert "HP:0003701" in found("His proximal muscles were weak.")


def test_abbreviation_defined_then_used_alone():
    text = "He has intellectual disability (ID). ID was severe."
    assert [m.text for m in recognize(text) if m.hpo == "HP:0001249"] == ["intellectual disability", "ID", "ID"]
