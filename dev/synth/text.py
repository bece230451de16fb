"""Words for synthetic patients: names, clinician phrasing, and note rendering (text, HTML, RTF)."""
from __future__ import annotations

import html
import random

GIVEN = {
    "female": ["Emma", "Olivia", "Ava", "Sofia", "Mia", "Amelia", "Harper", "Layla", "Chloe", "Nora",
               "Grace", "Zoe", "Hannah", "Leah", "Maya", "Aaliyah", "Priya", "Mei", "Fatima", "Rosa"],
    "male": ["Liam", "Noah", "Oliver", "Elijah", "James", "Lucas", "Mateo", "Ethan", "Henry", "Owen",
             "Caleb", "Isaac", "Ravi", "Omar", "Kenji", "Diego", "Samuel", "Miles", "Jonah", "Andre"],
}
FAMILY = ["Anderson", "Bennett", "Chen", "Delgado", "Evans", "Fischer", "Garcia", "Haddad", "Ibrahim",
          "Jensen", "Kowalski", "Larsen", "Martinez", "Nguyen", "Okafor", "Patel", "Quinn", "Rossi",
          "Schmidt", "Tanaka", "Umar", "Varga", "Walsh", "Xu", "Yilmaz", "Zimmerman", "Brooks", "Novak"]
STREETS = ["Maple Ave", "Oak St", "Cedar Ln", "Pine Rd", "Elm St", "Birch Way", "Willow Dr", "Lakeview Ct"]
CITIES = [("Springfield", "IL", "62704"), ("Madison", "WI", "53703"), ("Columbus", "OH", "43215"),
          ("Portland", "OR", "97205"), ("Raleigh", "NC", "27601"), ("Boise", "ID", "83702")]
CLINICIANS = [("Ruth", "Okonkwo", "MD"), ("Daniel", "Whitfield", "MD"), ("Anita", "Raman", "MD"),
              ("Thomas", "Berger", "DO"), ("Carmen", "Ortiz", "MD"), ("Helen", "Lindqvist", "MD")]

# Abbreviations clinicians use on problem lists, keyed by lower-case HPO label.
ABBREVIATIONS = {
    "global developmental delay": "GDD", "intellectual disability": "ID", "failure to thrive": "FTT",
    "hypertrophic cardiomyopathy": "HCM", "dilated cardiomyopathy": "DCM", "atrial septal defect": "ASD",
    "ventricular septal defect": "VSD", "patent ductus arteriosus": "PDA", "hypertension": "HTN",
    "gastroesophageal reflux": "GERD", "attention deficit hyperactivity disorder": "ADHD",
    "chronic kidney disease": "CKD", "intrauterine growth retardation": "IUGR", "seizure": "Sz",
    "developmental regression": "dev. regression", "obstructive sleep apnea": "OSA",
    "sensorineural hearing impairment": "SNHL",
}

# (HPO id, phrase) of common conditions for family-history sentences about relatives.
FAMILY_HISTORY = [("HP:0000821", "hypothyroidism"), ("HP:0000822", "hypertension"),
                  ("HP:0005978", "type 2 diabetes"), ("HP:0002076", "migraines"), ("HP:0002099", "asthma"),
                  ("HP:0003077", "hyperlipidemia"), ("HP:0000716", "depression"),
                  ("HP:0002758", "osteoarthritis")]
RELATIVES = ["Mother", "Father", "Maternal grandmother", "Paternal grandfather", "Older sister",
             "Maternal uncle", "Paternal aunt"]
# (HPO id, phrase, test) for "to rule out" hypotheticals.
RULE_OUTS = [("HP:0001638", "cardiomyopathy", "Echocardiogram"), ("HP:0002240", "hepatomegaly", "Abdominal ultrasound"),
             ("HP:0002650", "scoliosis", "Spine radiographs"), ("HP:0000365", "hearing loss", "Audiology evaluation"),
             ("HP:0000107", "renal cysts", "Renal ultrasound"), ("HP:0001250", "seizures", "EEG")]

POSITIVE = ["History is notable for {}.", "Parents report {}.", "On exam, {} is noted.", "{} was documented at a prior visit.",
            "Known {}.", "Exam remarkable for {}.", "There is {}.", "Previously evaluated for {}, which persists."]
NEGATIVE = ["No {}.", "Denies {}.", "Negative for {}.", "There is no evidence of {}.", "{}: absent.",
            "No history of {}."]
MEDS = ["cholecalciferol 1,000 units daily", "polyethylene glycol 17 g daily as needed", "acetaminophen as needed",
        "multivitamin daily", "ibuprofen as needed", "fluoride toothpaste"]
CHILD_SOCIAL = ["Lives with parents and one sibling.", "Lives with mother; attends school.", "Lives with grandparents."]
ADULT_SOCIAL = ["Lives with spouse.", "Lives alone; works part time.", "Lives with partner; works in retail."]
SOCIAL = {"boy": CHILD_SOCIAL, "girl": CHILD_SOCIAL, "man": ADULT_SOCIAL, "woman": ADULT_SOCIAL,
          "patient": CHILD_SOCIAL + ADULT_SOCIAL}


def mention(term, rng: random.Random, lower: bool = True) -> str:
    """Return how a clinician might write a term: its label or an EXACT synonym, usually lower-cased."""
    # Long layperson synonyms read like definitions, not like a clinician's words.
    short = [s for s in term.synonyms if len(s.split()) <= 5]
    text = rng.choice([term.label, term.label, *short])
    if lower and not any(sum(c.isupper() for c in w) > 1 for w in text.split()):
        text = text[0].lower() + text[1:]
    return text


def problem_text(term, rng: random.Random) -> str:
    """Return a free-text problem-list entry for a term: label, synonym or abbreviation."""
    abbrev = ABBREVIATIONS.get(term.label.lower()) or (term.abbreviations[0] if term.abbreviations else None)
    if abbrev and rng.random() < 0.4:
        return abbrev
    text = mention(term, rng, lower=rng.random() < 0.3)
    return text[0].upper() + text[1:] if rng.random() < 0.5 else text


def sentence(template: str, phrase: str) -> str:
    """Fill a template and capitalise the first letter."""
    text = template.format(phrase)
    return text[0].upper() + text[1:]


def age_phrase(days: int) -> str:
    """Return '3-week-old', '14-month-old' or '7-year-old'."""
    if days < 60:
        return f"{max(days // 7, 1)}-week-old"
    if days < 730:
        return f"{days // 30}-month-old"
    return f"{days // 365}-year-old"


def render_text(title: str, sections: list[tuple[str, list[str]]]) -> str:
    """Render a note as plain text with upper-case headings."""
    parts = [title.upper(), ""]
    for heading, lines in sections:
        parts += [f"{heading.upper()}:", " ".join(lines), ""]
    return "\n".join(parts)


def render_html(title: str, sections: list[tuple[str, list[str]]]) -> str:
    """Render a note as a small HTML document, the way Epic's text/html note body looks."""
    body = [f"<div><b>{html.escape(h)}:</b> {html.escape(' '.join(lines))}</div>" for h, lines in sections]
    return ("<html><head><meta charset=\"utf-8\"><title>" + html.escape(title) + "</title></head><body>"
            f"<h3>{html.escape(title)}</h3>" + "".join(body) + "</body></html>")


def rtf_escape(text: str) -> str:
    """Escape text for RTF: control characters and non-ASCII as \\uN? escapes."""
    out = []
    for ch in text:
        if ch in "\\{}":
            out.append("\\" + ch)
        elif ord(ch) > 127:
            code = ord(ch) if ord(ch) < 32768 else ord(ch) - 65536
            out.append(f"\\u{code}?")
        else:
            out.append(ch)
    return "".join(out)


def render_rtf(title: str, sections: list[tuple[str, list[str]]]) -> str:
    """Render a note as valid RTF 1 with a Helvetica font table."""
    paras = [f"{{\\b {rtf_escape(title)}}}\\par"]
    for heading, lines in sections:
        paras.append(f"{{\\b {rtf_escape(heading)}:}} {rtf_escape(' '.join(lines))}\\par")
    return "{\\rtf1\\ansi\\deff0{\\fonttbl{\\f0\\fswiss Helvetica;}}\\f0\\fs20\n" + "\n".join(paras) + "\n}"


RENDERERS = {"text/plain": render_text, "text/html": render_html, "text/rtf": render_rtf}
