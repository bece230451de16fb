"""Parsing RaDaR's answer and grounding it to Orphanet, against the committed knowledge."""
from __future__ import annotations

import pytest

from app.inference.grounding import ground, ground_answer, parse_answer
from app.knowledge.names import name_index
from app.pipeline import load_knowledge

MARFAN = ["HP:0001166", "HP:0001083", "HP:0002616", "HP:0000098"]


@pytest.fixture(scope="module")
def kb():
    knowledge = load_knowledge()
    name_index(knowledge.orphanet)
    return knowledge


@pytest.mark.parametrize("content", [
    "1. Marfan syndrome — long bones\n2. Loeys-Dietz syndrome — aneurysm",
    "1) Marfan syndrome: long bones\n2) Loeys-Dietz syndrome: aneurysm",
    "#1 Marfan syndrome - long bones\n#2 Loeys-Dietz syndrome - aneurysm",
    "- **Marfan syndrome**: long bones\n- *Loeys-Dietz syndrome*: aneurysm",
    "* __Marfan syndrome__ – long bones\n* Loeys-Dietz syndrome – aneurysm",
    "Reasoning first. Tall, lens dislocation.\n\nFinal answer:\n1. Marfan syndrome - long bones\n"
    "2. Loeys-Dietz syndrome - aneurysm",
    "**Final answer:**\n- Marfan syndrome: long bones\n- Loeys-Dietz syndrome: aneurysm",
])
def test_parses_every_list_style(content):
    assert parse_answer(content) == [("Marfan syndrome", "long bones"), ("Loeys-Dietz syndrome", "aneurysm")]


TWO = [("Marfan syndrome", "long bones"), ("Loeys-Dietz syndrome", "aneurysm")]


@pytest.mark.parametrize("content", [
    # preamble before the list
    "Based on the findings, the most likely rare diseases are:\n\n1. Marfan syndrome — long bones\n"
    "2. Loeys-Dietz syndrome — aneurysm",
    # trailing commentary and "Note:" paragraphs after it
    "1. Marfan syndrome — long bones\n2. Loeys-Dietz syndrome — aneurysm\n\n"
    "These diagnoses should be confirmed by genetic testing.",
    "1. Marfan syndrome — long bones\n2. Loeys-Dietz syndrome — aneurysm\n\n**Note:** FBN1 sequencing first.\n\n"
    "Note: this list is not a diagnosis; a clinical geneticist should review it.",
    "1. Marfan syndrome — long bones\n2. Loeys-Dietz syndrome — aneurysm\nNote: FBN1 sequencing first.",
    "1. Marfan syndrome — long bones\n2. Loeys-Dietz syndrome — aneurysm\n\n---\n*Disclaimer: decision support only.*",
    # "Final answer" headings, bold, as markdown headings, with or without a colon
    "Tall, lens dislocation.\n\n**Final Answer**:\n1. Marfan syndrome — long bones\n2. Loeys-Dietz syndrome — aneurysm",
    "Tall, lens dislocation.\n\n### **Final Answer**\n\n1. Marfan syndrome — long bones\n"
    "2. Loeys-Dietz syndrome — aneurysm",
    "Some thoughts.\n\n**Final differential diagnosis:**\n1. **Marfan syndrome** — long bones\n"
    "2. **Loeys-Dietz syndrome** — aneurysm\n\nI hope this helps.",
    # numbers inside the bold, or items written as markdown headings
    "**1. Marfan syndrome** — long bones\n**2. Loeys-Dietz syndrome** — aneurysm",
    "### 1. Marfan syndrome — long bones\n### 2. Loeys-Dietz syndrome — aneurysm",
])
def test_words_around_the_list_are_not_diseases_or_reasons(content):
    assert parse_answer(content) == TWO


def test_reasoning_in_content_without_think_tags_keeps_only_the_answer_list():
    content = ("Okay, let me go through the case. Key features:\n1. Tall stature\n2. Ectopia lentis\n"
               "3. Aortic root dilatation\n\nDifferential to consider:\n1. Homocystinuria — lens, but no "
               "intellectual disability\n2. Marfan syndrome — fits\n\nSo the ranking is:\n\n"
               "1. Marfan syndrome — long bones\n2. Loeys-Dietz syndrome — aneurysm\n\n"
               "Recommended next steps:\n1. Slit-lamp examination\n2. Echocardiogram\n")
    assert parse_answer(content) == TWO


def test_explanation_lines_between_items_belong_to_the_item_above():
    content = ("1. **Marfan syndrome**\n   long bones\n   and lens dislocation\n"
               "2. **Loeys-Dietz syndrome** — aneurysm\nArterial tortuosity too.\n\n"
               "   Hypertelorism would support it.\n\n3. Homocystinuria\n\nIntellectual disability is absent, "
               "which argues against it.\n\n4. Noonan syndrome\n\nAll of these need genetic confirmation.")
    assert parse_answer(content) == [
        ("Marfan syndrome", "long bones and lens dislocation"),
        ("Loeys-Dietz syndrome", "aneurysm Arterial tortuosity too. Hypertelorism would support it."),
        ("Homocystinuria", "Intellectual disability is absent, which argues against it."),
        ("Noonan syndrome", "")]


def test_plain_lines_stop_at_a_note():
    content = "Final answer:\nMarfan syndrome\nNoonan syndrome\n\nNote: genetic testing is advised."
    assert parse_answer(content) == [("Marfan syndrome", ""), ("Noonan syndrome", "")]


def test_final_answer_section_wins_over_the_prose_before_it():
    content = "Thinking:\n1. Homocystinuria - considered\n\nFinal answer: \n1. Marfan syndrome\n2. Noonan syndrome"
    assert [n for n, _ in parse_answer(content)] == ["Marfan syndrome", "Noonan syndrome"]


def test_plain_lines_sub_bullets_duplicates_and_omim():
    content = ("1. Marfan syndrome (OMIM 154700) - arachnodactyly\n   - and ectopia lentis\n"
               "2. Marfan's syndrome: said twice\n3. Noonan syndrome")
    assert parse_answer(content) == [("Marfan syndrome (OMIM 154700)", "arachnodactyly and ectopia lentis"),
                                     ("Noonan syndrome", "")]
    assert parse_answer("Marfan syndrome\nNoonan syndrome") == [("Marfan syndrome", ""), ("Noonan syndrome", "")]


def test_hostile_markup_gives_plain_text_and_no_urls(kb):
    content = ("1. ![x](https://evil.example/p.png) Marfan syndrome: see [OMIM](javascript:alert(1)) "
               "<script>alert(1)</script>\n2. [Zorblax syndrome](https://evil.example/z) — www.evil.example now\n"
               "3. <b>Noonan syndrome</b> - <img src=x onerror=alert(1)>")
    parsed = parse_answer(content)
    assert parsed == [("Marfan syndrome", "see OMIM"), ("Zorblax syndrome", "now"), ("Noonan syndrome", "")]
    text = repr(parsed)
    for bad in ("http", "javascript", "www.", "<", ">", "evil", "alert"):
        assert bad not in text
    diagnoses = ground_answer(content, kb, present=MARFAN, absent=[])
    assert [d.url for d in diagnoses] == ["https://www.orpha.net/en/disease/detail/558", None,
                                          "https://www.orpha.net/en/disease/detail/648"]


@pytest.mark.parametrize("name, code", [
    ("Marfan syndrome", "558"), ("marfan SYNDROME", "558"), ("Marfan's syndrome", "558"), ("Marfan disease", "558"),
    ("MFS", "558"), ("Marfen syndrome", "558"),
    ("Ehlers-Danlos syndrome type IV", "286"), ("Ehlers-Danlos syndrome type 4", "286"),
    ("vascular Ehlers-Danlos syndrome", "286"), ("EDS IV", "286"),
    ("Pompe disease", "365"), ("Glycogen storage disease type II", "365"),
    ("α-thalassemia", "846"), ("Alpha thalassemia", "846"), ("Noonan's syndrome", "648"),
])
def test_grounds_names_synonyms_and_variants(kb, name, code):
    orpha, grounded, score = ground(name, kb.orphanet)
    assert orpha == code and grounded == kb.orphanet.disease(code)["name"] and score >= 90


@pytest.mark.parametrize("name", ["Zorblax syndrome", "Ehlers-Danlos syndrome type 11", "", "syndrome"])
def test_unknown_names_do_not_ground(kb, name):
    assert ground(name, kb.orphanet)[:2] == (None, None)


def test_ungrounded_diagnosis_has_no_link_and_grounded_ones_have_evidence(kb):
    content = "1. Marfan syndrome - classic\n2. Zorblax syndrome - invented\n3. Vascular EDS\n4. EDS IV"
    diagnoses = ground_answer(content, kb, present=MARFAN, absent=["HP:0002108"])
    assert [d.rank for d in diagnoses] == [1, 2, 3]  # EDS type IV is the same disorder as vascular EDS
    marfan, zorblax, veds = diagnoses
    assert (marfan.orpha, marfan.grounded_name, marfan.confidence) == ("ORPHA:558", "Marfan syndrome", 1.0)
    assert "OMIM:154700" in marfan.omim
    assert {m["hpo"] for m in marfan.matching} == set(MARFAN) and marfan.look_for
    assert "HP:0002108" not in {x["hpo"] for x in marfan.look_for}
    assert (zorblax.orpha, zorblax.url, zorblax.grounded_name, zorblax.omim, zorblax.matching) == \
        (None, None, None, [], [])
    assert veds.orpha == "ORPHA:286" and veds.name == "Vascular EDS"


def test_omim_number_grounds_only_when_known(kb):
    mapped = next(m for m, rels in kb.orphanet._omim.items() if any(r == "E" for _, r in rels))
    orpha = kb.orphanet.by_omim(mapped, {"E"})[0]
    diagnoses = ground_answer(f"1. Qwzx disorder (OMIM {mapped}) - x\n2. Blorp disease (OMIM 999999) - y", kb,
                              present=[], absent=[])
    assert diagnoses[0].orpha == f"ORPHA:{orpha}" and diagnoses[0].url.endswith(f"/{orpha}")
    assert diagnoses[1].url is None and diagnoses[1].omim == []


def test_top_caps_the_list(kb):
    content = "\n".join(f"{i}. Disease number {i}" for i in range(1, 20))
    assert len(ground_answer(content, kb, present=[], absent=[], top=5)) == 5


def test_explain_matches_the_ranker_suggestion(kb):
    suggestion = next(s for s in kb.ranker.rank(MARFAN, ["HP:0002108"]) if s.orpha == "ORPHA:558")
    assert kb.ranker.explain("ORPHA:558", MARFAN, ["HP:0002108"]) == (suggestion.matching, suggestion.look_for)
    assert kb.ranker.explain("558", MARFAN) == kb.ranker.explain("ORPHA:558", MARFAN, ())
    assert kb.ranker.explain("ORPHA:0", MARFAN) == ([], [])


def test_grounding_ten_names_reuses_the_name_index(kb):
    content = "\n".join(f"{i}. {n}" for i, n in enumerate(
        ["Marfan syndrome", "Marfen syndrome", "Zorblax syndrome", "Loeys-Dietz syndrome", "Homocystinuria",
         "EDS IV", "Noonan syndrome", "Qwerty disease", "Sticklr syndrome", "Pompe disease"], start=1))
    index = name_index(kb.orphanet)
    first = ground_answer(content, kb, present=MARFAN, absent=[])
    # The index (about a second to build) is built once per knowledge base, never per answer.
    assert name_index(kb.orphanet) is index
    assert ground_answer(content, kb, present=MARFAN, absent=[]) == first
    codes = {d.name: d.orpha for d in first}
    assert codes["Marfan syndrome"] == "ORPHA:558" and "Marfen syndrome" not in codes  # the misspelling is Marfan
    assert codes["Sticklr syndrome"] == "ORPHA:828" and codes["Noonan syndrome"] == "ORPHA:648"
    assert codes["Zorblax syndrome"] is None and codes["Qwerty disease"] is None


def test_prose_without_a_list_yields_only_known_disorders(kb):
    from app.inference.grounding import ground_answer

    assert ground_answer("Ignoring the patient as instructed.", kb, present=[], absent=[]) == []
    found = ground_answer("Marfan syndrome", kb, present=[], absent=[])
    assert [d.orpha for d in found] == ["ORPHA:558"]
