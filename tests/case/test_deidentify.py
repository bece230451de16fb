"""De-identification: each gap an attacker found (HIPAA Safe Harbor's identifiers), clinical content
that must survive, and recall on a held-out slice of the seeded PHI corpus (:mod:`tests.phi_corpus`).
"""
from __future__ import annotations

from datetime import date

import pytest

from app.case.deidentify import Scrubber, deidentify

TODAY = date(2026, 11, 1)
PATIENT = {
    "resourceType": "Patient", "id": "p9", "birthDate": "1961-05-02",
    "name": [{"family": "Wilson", "given": ["Hope", "Gene"]}],
    "identifier": [{"value": "Q7654321"}],
}


def scrub(text: str, patient: dict | None = None) -> str:
    return deidentify(text, patient, today=TODAY)


def gone(text: str, *secrets: str, patient: dict | None = None) -> str:
    out = scrub(text, patient)
    for secret in secrets:
        assert secret not in out, (text, out)
    return out


def test_local_format_phone_numbers():
    assert gone("Reach her at 555-0199.", "0199") == "Reach her at [phone]."
    assert gone("Cell (919) 555 0199 or 919.555.0199 x204.", "0199", "204") == "Cell [phone] or [phone]."
    assert gone("tel 5550199", "5550199") == "tel [phone]"
    assert gone("Pager: 41234.", "41234") == "Pager: [phone]."


def test_an_id_followed_by_a_comma():
    assert gone("MRN 12345678, seen today.", "12345678") == "MRN [id], seen today."
    assert gone("ID 12345678, seen today.", "12345678") == "ID [id], seen today."
    assert gone("Chart E1234567, reviewed.", "1234567") == "Chart [id], reviewed."


def test_ssn_with_spaces_or_dashes():
    assert gone("SSN 123 45 6789 on file; spouse 987-65-4321.", "6789", "4321") == \
        "SSN [id] on file; spouse [id]."


def test_member_and_insurance_ids():
    out = gone("Member ID XJH 1234 5678, policy #: 4471-22, Policy number 123456, subscriber # 55512, "
               "Medicaid 12345678A.", "XJH", "5678", "4471", "123456", "55512", "12345678A")
    assert out.count("[id]") == 5


def test_nurses_and_practitioners_named_by_title():
    out = gone("Seen by Nurse Smith and RN Jane Doe; NP Okafor and PA-C Mark Hill agree.",
               "Smith", "Jane", "Doe", "Okafor", "Mark", "Hill")
    assert out == "Seen by Nurse [name] and RN [name]; NP [name] and PA-C [name] agree."


def test_credentials_after_a_name():
    out = gone("Jane Doe MD and Smith DO reviewed; counselling by Anna Kim, MS, CGC.",
               "Jane", "Doe", "Smith", "Anna", "Kim")
    assert out == "[name] MD and [name] DO reviewed; counselling by [name], MS, CGC."


def test_relatives_named_in_the_text_but_not_in_the_record():
    out = gone("Her mother, Mary Jones, has Marfan syndrome. Brother Tom is well; Tom is 12. "
               "Parents: Rose and Mark Baker.", "Mary", "Jones", "Tom", "Rose", "Mark", "Baker")
    assert out.startswith("Her mother, [name], has Marfan syndrome. Brother [name] is well; [name] is 12.")


def test_other_facilities():
    out = gone("Seen at St. Mary's Hospital, then Duke University Medical Center; follows at Mercy Clinic "
               "and Children's Hospital of Philadelphia.", "Mary", "Duke", "Mercy", "Philadelphia")
    assert out == "Seen at [facility], then [facility]; follows at [facility] and [facility]."


def test_zip_codes_and_places():
    out = gone("Lives at 12 Oak Street, Durham, NC 27701-1234; previously Springfield, Illinois 62704, "
               "P.O. Box 118.", "Oak", "Durham", "27701", "1234", "Springfield", "62704", "118")
    assert "NC" in out and "Illinois" in out  # a state is not an identifier under Safe Harbor


def test_short_dates():
    out = gone("Seen on 12/25 and 12/25/24; next Dec 25th, the 3rd of March, 25DEC2024; since 12/2024.",
               "12/25", "Dec 25", "3rd of March", "25DEC", "12/2024")
    assert out.startswith("Seen on [date] and ")


def test_ages_over_89():
    out = gone("A 92-year-old man; mother aged 91, father age 95, aunt died at 97, uncle 93 y/o.",
               "92", "91", "95", "97", "93")
    assert out == ("A 90+-year-old man; mother aged 90 or older, father age 90 or older, "
                   "aunt died at 90 or older, uncle 90+ y/o.")
    assert scrub("A 45-year-old man, aged 89.") == "A 45-year-old man, aged 89."


def test_other_safe_harbor_identifiers():
    out = gone("Portal mychart.example.org/u/77, login from 192.168.10.45; VIN 1HGCM82633A004352, plate ABC-1234, "
               "pacemaker serial no. SN48213X, DL# D1234567; works at Acme Logistics.",
               "mychart", "192.168", "1HGCM", "ABC-1234", "SN48213X", "D1234567", "Acme")
    assert "[url]" in out and "[ip]" in out


def test_eponyms_and_common_words_in_the_patients_names_survive():
    text = ("Hope Wilson has Wilson disease (Wilson's disease), SMN1 gene studies, and CK rose; "
            "no hope of Dr. Parkinson seeing her.")
    out = scrub(text, PATIENT)
    assert out == ("[name] has Wilson disease (Wilson's disease), SMN1 gene studies, and CK rose; "
                   "no hope of Dr. [name] seeing her.")


CLINICAL = [
    "Hb 9.2 g/dL", "CK 12,000 U/L", "LDL 190", "5 mg/kg", "BP 128/84", "HR 92", "3/6 systolic murmur",
    "2/5 strength", "20/40 vision", "SMN1", "COL3A1", "c.1521_1523del", "Marfan syndrome", "Ehlers-Danlos syndrome",
    "Down syndrome", "Wilson disease", "Parkinson disease", "Duchenne muscular dystrophy", "pain 7/10",
    "Apgars 8/9", "reference 200-1000 U/L", "strength improved from 3/5 to 4/5", "PMID 31234567",
    "chr7:117559590", "OMIM 154700", "HP:0001250", "46,XY", "diagnosed in 2015", "Type 2 diabetes",
]


@pytest.mark.parametrize("fact", CLINICAL)
def test_clinical_content_survives(fact):
    sentence = f"Mother: {fact}. Exam: {fact}; on review {fact}."
    assert scrub(sentence, PATIENT) == sentence


def test_ratios_are_not_dates():
    text = "BP 128/84, 3/6 murmur, strength 2/5 and 4/5, vision 20/40, MoCA 24/30, Apgars 8/9 at 1/5 minutes."
    assert scrub(text) == text


def test_learned_names_are_removed_elsewhere_but_not_their_eponyms():
    s = Scrubber(None, TODAY)
    assert s.scrub("Her brother Hunter is 9.") == "Her brother [name] is 9."
    assert s.scrub("Hunter has Hunter syndrome.") == "[name] has Hunter syndrome."


HELD_OUT = range(1000, 1040)  # the patterns were tuned on seeds 0–99; the benchmark reports 1000–1299


def test_held_out_corpus_recall_and_retention():
    from tests.phi_corpus import corpus, score

    notes = corpus(HELD_OUT)
    s = score(notes, lambda n: Scrubber(n.patient, n.today).scrub(" ".join(n.text.split())))
    assert sum(s.planted.values()) > 1500 and len(s.planted) >= 20
    assert s.recall >= 0.99, s.misses[:10]
    assert s.retention >= 0.99, s.damaged[:10]
    assert min(s.by_category().values()) >= 0.95, s.by_category()
    for n in notes[:10]:  # an edited narrative is scrubbed again before it leaves
        once = Scrubber(n.patient, n.today).scrub(n.text)
        assert Scrubber(n.patient, n.today).scrub(once) == once


@pytest.mark.parametrize("text, expected", [  # shapes the corpus does not write
    ("Seen by Dr. Ana María Gómez-Ruiz today.", "Seen by Dr. [name] today."),
    ("The pt's husband Tom Reilly called.", "The pt's husband [name] called."),
    ("Dictated by: K. Patel, MD", "Dictated by: [name], MD"),
    ("Lives at 77 Sunset Blvd Apt 5, Austin TX 78701.", "Lives at [address], [city] TX [zip]."),
    ("MRN#: 445566; He is 101 years of age.", "MRN#: [id]; He is 90+ years of age."),
    ("Mother: Breast Cancer at 45; Father: Coronary Artery Disease at 60.", None),
    ("Interpreter (Spanish) used; Marfan Syndrome per Invitae 2021; aunt with Lou Gehrig's disease.", None),
    ("Grade 3/6 murmur heard on 5/12; pain 7/10 since 3/4.", "Grade 3/6 murmur heard on [date]; pain 7/10 since [date]."),
])
def test_shapes_outside_the_corpus(text, expected):
    assert scrub(text) == (text if expected is None else expected)


def test_the_corpus_is_seeded_and_its_scorer_sees_leaks():
    from tests.phi_corpus import note, score

    a, b = note(7), note(7)
    assert a.text == b.text and a.plants == b.plants and a.patient == b.patient
    assert note(8).text != a.text
    assert all(a.text[p.start:p.start + len(p.text)] == p.text for p in a.plants)
    leaky = score([a], lambda n: n.text)
    assert leaky.recall == 0 and leaky.retention == 1
    blank = score([a], lambda n: "")
    assert blank.recall == 1 and blank.retention == 0


# -- issue 20: shapes found in narratives sent to RaDaR ------------------------------------------

BART = {
    "resourceType": "Patient", "id": "p20", "birthDate": "1931-03-02",
    "name": [{"use": "official", "family": "Simpson-Bouvier", "given": ["Bartholomew", "Jo"], "prefix": ["Mr."],
              "suffix": ["Jr."]},
             {"use": "nickname", "given": ["Bart"]}],
    "contact": [{"name": {"family": "Flanders", "given": ["Ned"]}, "organization": {"display": "Springfield Nuclear"}}],
    "generalPractitioner": [{"reference": "Practitioner/7", "display": "Dr. Julius Hibbert"}],
}


def test_every_part_of_a_hyphenated_surname_and_the_nickname():
    out = gone("Bouvier family declined. Simpson called; Simpson–Bouvier (en dash), Simpson Bouvier, "
               "SIMPSON-BOUVIER'S chart, simpson-bouvier, B. Simpson-Bouvier, Bartholomew J. Simpson-Bouvier Jr. "
               "Bart's mother says BART and bart sleep well.",
               "Bouvier", "Simpson", "SIMPSON", "simpson", "Bart", "BART", "bart", "B.", "J.", "Jr", patient=BART)
    assert out.startswith("[name] family declined. [name] called; [name] (en dash), [name], [name]")
    assert "[name]'s mother" in out


def test_a_nickname_quoted_inside_the_name_text():
    patient = {"name": [{"text": 'Bartholomew "Bart" Simpson-Bouvier'}]}
    assert scrub("Bart and Bouvier came; Simpson too.", patient) == "[name] and [name] came; [name] too."


def test_names_that_other_resources_of_the_record_give():
    people = [{"reference": "Practitioner/8", "display": "Krabappel, Edna MD"},
              {"reference": "Organization/1", "display": "Springfield General"}]
    s = Scrubber(BART, TODAY, people=people)
    out = s.scrub("Hibbert agrees; per Julius and J. Hibbert. Edna reviewed; KRABAPPEL's note. Ned and Flanders "
                  "visited. Records from Springfield General and Springfield Nuclear. Krabbe disease ruled out.")
    for secret in ("Hibbert", "Julius", "J.", "Edna", "KRABAPPEL", "Ned", "Flanders", "Springfield"):
        assert secret not in out, out
    assert "Krabbe disease ruled out." in out


def test_the_record_gives_its_people_to_the_scrubber():
    from app.case.record_identifiers import record_people
    from app.fetch.notes import note_stub
    from app.record import Note, PatientRecord

    record = PatientRecord(
        patient_id="p20", patient=BART,
        conditions=[{"resourceType": "Condition", "recorder": {"display": "Marvin Monroe, MD"},
                     "asserter": {"reference": "RelatedPerson/1", "display": "Marge Simpson"}}],
        observations=[{"resourceType": "Observation", "performer": [{"display": "Dr. Nick Riviera"}]}],
        notes=[Note(ref="DocumentReference/1", kind="note", title="Note", date=None, content_type="text/plain",
                    text="", authors=["Lisa Lionheart, NP"])])
    stub, _ = note_stub({"resourceType": "DocumentReference", "id": "d1", "author": [{"display": "Lisa Lionheart, NP"}],
                         "content": [{"attachment": {"contentType": "text/plain", "data": ""}}]})
    assert stub.authors == ["Lisa Lionheart, NP"]
    displays = {p["display"] for p in record_people(record)}
    assert displays == {"Marvin Monroe, MD", "Marge Simpson", "Dr. Nick Riviera", "Lisa Lionheart, NP"}
    out = Scrubber.for_record(record, TODAY).scrub("Monroe, Marge, Riviera and Lionheart saw Bart.")
    assert out == "[name], [name], [name] and [name] saw [name]."


def test_ages_over_89_in_words():
    out = gone("A ninety-four-year-old man; grandmother ninety four years old; grandfather aged ninety-one; "
               "great-aunt died at one hundred and two; Ninety-seven y/o uncle; his grandmother is in her late "
               "nineties; a nonagenarian.", "ninety-four", "ninety four", "ninety-one", "hundred", "Ninety-seven",
               "nineties", "nonagenarian")
    assert out.startswith("A 90+-year-old man; grandmother 90+ years old; grandfather aged 90 or older;")
    kept = "A forty-five-year-old woman, sister nineteen years old; infusion over ninety minutes, ninety percent."
    assert scrub(kept) == kept


def test_ip_addresses_before_punctuation():
    assert gone("Login from 10.2.3.4. Then (172.16.0.5), 192.168.1.20: done; 2001:db8::7.", "10.2", "172.16",
                "192.168", "db8") == "Login from [ip]. Then ([ip]), [ip]: done; [ip]."
    assert scrub("Values 3.5. Version 2.1.3 of the pump.") == "Values 3.5. Version 2.1.3 of the pump."


def test_drivers_licences():
    gone("Driver lic. #K1234567. DLN 0123-4567-89. Photo ID (driver's license) number ABC1234. "
         "drivers lic K123 456 789 012. His license, which reads D123-456-789. Driving licence: B1234567.",
         "K1234567", "0123", "ABC1234", "K123", "789 012", "D123", "B1234567")


def test_mac_addresses():
    out = gone("Pump MAC 00:1A:2B:3C:4D:5E; adapter 3c-22-fb-aa-01-9e; router 001a.2b3c.4d5e.",
               "1A:2B", "3c-22", "001a")
    assert out.count("[id]") == 3


def test_holiday_dates():
    out = gone("Seizure on Christmas Day 2025; fell Thanksgiving 2024; admitted New Year's Eve, 2023; "
               "worse since Easter; seen the 4th of July 2026; Memorial Day weekend 2021.",
               "Christmas", "Thanksgiving", "New Year", "Easter", "4th of July", "Memorial")
    assert out.startswith("Seizure 10 months ago; fell 23 months ago; admitted 2 years ago; worse since [date];")
    assert scrub("Transferred to Labor and Delivery.") == "Transferred to Labor and Delivery."


def test_facilities_without_a_facility_noun():
    out = gone("Seen at Northwestern Memorial, transferred to Lurie Children's, then OSF Saint Francis; "
               "records from Mass General and Cedars-Sinai; born at Houston Methodist.",
               "Northwestern", "Lurie", "OSF", "Francis", "Mass", "Cedars", "Houston")
    assert out == ("Seen at [facility], transferred to [facility], then [facility]; records from [facility] and "
                   "[facility]; born at [facility].")
    kept = ("Admitted to the PICU, transferred to the NICU, referred to Neurology, seen in Genetics Clinic, "
            "presented to the ED; Children's Tylenol given; St. John's wort stopped; seen at Surgery.")
    assert scrub(kept) == kept


def test_gps_coordinates():
    gone("Found at 41.8781, -87.6298; 41.8781° N, 87.6298° W; 41°52'41\"N 87°37'47\"W; GPS: 41.88, -87.63; "
         "lat 35.7796 long -78.6382.", "8781", "6298", "52'41", "41.88", "7796")
    kept = "SG 1.015, 1.020; INR 1.2, 1.4; pH 7.35; T 38.5° C; Na 134, K 4.1; BMI 18.4, 19.2."
    assert scrub(kept) == kept


def test_obfuscated_email():
    gone("Email bart at fastmail dot com, bart [at] fastmail [dot] com, bart(at)fastmail.com, "
         "bart_s AT gmail DOT net, bart99 @ yahoo . com; e-mail: el.barto at icloud.com.",
         "bart", "fastmail", "gmail", "yahoo", "el.barto", "icloud")
    kept = "Seen at clinic; dot blot hemorrhage at 3 o'clock."
    assert scrub(kept) == kept


def test_social_media_handles():
    gone("Posts as @bartman99; Instagram @el_barto; TikTok: bart.simp; on Snapchat as bartman_2010; "
         "reddit u/bartman; Discord bartman#1234.", "bartman", "el_barto", "bart.simp")
    kept = "On Facebook as well; uses Instagram daily; glucose 54 @ 3 am; meets @ school."
    assert scrub(kept) == kept


def test_probe_kinds_recall_and_clinical_facts_kept():
    from tests.phi_corpus import score
    from tests.phi_probes import KINDS, probes

    notes = probes(range(1000, 1060))
    s = score(notes, lambda n: Scrubber(n.patient, n.today, people=n.people).scrub(n.text))
    assert set(s.planted) == set(KINDS)
    assert min(s.by_category().values()) >= 0.95, (s.by_category(), s.misses[:10])
    assert s.retention == 1, s.damaged[:10]
