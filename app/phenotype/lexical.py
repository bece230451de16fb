"""Lexical normalisation shared by text and HPO labels: tokens, stop words, stems, word variants.

Words are lower-cased, clinical shorthand expanded, irregular and anatomical forms made canonical
(``CANONICAL``), and reduced by a light stemmer (plurals -ies/-es/-s, Latin -i/-ae, participles and
gerunds -ed/-ing). :func:`derived_forms` adds the adjectives a noun of the lexicon is written as in
prose ("hypotonic" for hypotonia, "microcephalic", "spastic", "deaf"); the matcher folds each onto
its noun on both sides, so "the infant was hypotonic" finds Hypotonia.
"""
from __future__ import annotations

import re
from functools import lru_cache

STOP_WORDS = frozenset({
    "a", "an", "the", "of", "in", "on", "at", "to", "for", "by", "with", "from", "and",
    "or", "as", "is", "are", "was", "were", "be", "been", "being", "its", "it", "this",
    "that", "these", "those", "his", "her", "their", "patient", "patients",
})
CONJUNCTIONS = frozenset({"and", "or"})
# Whole labels made only of these are not worth matching on their own.
WEAK_SINGLE_WORDS = frozenset({
    "abnormal", "abnormality", "small", "large", "tall", "short", "long", "high", "low",
    "increased", "decreased", "absent", "present", "normal", "mild", "severe", "recurrent",
    "hand", "foot",
})
MIN_WORD_LABEL = 4
MIN_ABBREVIATION = 3

# Clinical shorthand seen in problem lists and notes that the HPO synonyms lack. Each maps to
# the words of an HPO label, so the term is still found through the lexicon.
SHORTHAND = {
    "bilat": "bilateral",
    "b/l": "bilateral",
    "htn": "hypertension",
    "sz": "seizure",
    "szs": "seizure",
    "hx": "history",
    "dev": "developmental",
}

# The matcher's tokens: words (with a possessive 's), "b/l", and the punctuation that ends a phrase (BREAKS).
TOKEN = re.compile(r"[^\W_]+(?:'s)?|b/l|[.,;:!?()\[\]\n•]")
BREAKS = frozenset(".,;:!?()[]\n•")
CONJUNCTION_WORD = re.compile(r"\b(?:and|or)\b", re.IGNORECASE)
INNER_HYPHEN = re.compile(r"(?<=[^\W\d_])-(?=[^\W\d_])")


# Words with one meaning for matching: irregular plurals, anomaly/abnormality, and the
# anatomical adjectives HPO labels use interchangeably with their nouns.
CANONICAL = {
    "teeth": "tooth", "feet": "foot", "children": "child", "women": "woman", "men": "man",
    "abnormal": "abnormal", "abnormality": "abnormal", "abnormalities": "abnormal",
    "anomaly": "abnormal", "anomalies": "abnormal", "anomalous": "abnormal",
    "numerous": "multiple", "ocular": "eye", "renal": "kidney", "hepatic": "liver",
    "cardiac": "heart", "pulmonary": "lung", "cutaneous": "skin", "gastric": "stomach",
    "vertebral": "vertebra", "costal": "rib", "clavicular": "clavicle", "patellar": "patella",
    "mandibular": "mandible", "maxillary": "maxilla", "palatal": "palate", "dental": "tooth",
    "haemorrhage": "hemorrhage", "oedema": "edema", "naevus": "nevus", "naevi": "nevus",
    "otic": "ear", "ophthalmic": "eye", "articular": "joint", "aortic": "aorta",
    "enlarged": "large", "enlargement": "large", "dilatation": "dilat", "dilation": "dilat",
    # "-ness" nouns are not derived generally: "aloneness" made every "lives alone" a finding
    # (70 of 300 EHR-shaped dev records); the clinical ones are listed.
    "deaf": "deafness", "weak": "weakness",
}
# Adjective endings that name the same finding as the noun (hypoplastic → hypoplasia).
DERIVATIONS = (("plastic", "plasia"), ("trophic", "trophy"), ("otic", "osis"))


def _stem(word: str) -> str:
    """Light inflectional stem: plural -ies/-es/-s and Latin -ae off; -ss/-us/-is/-ous kept."""
    if len(word) <= 3:
        return word
    for adj, noun in DERIVATIONS:
        if word.endswith(adj):
            return word[: -len(adj)] + noun
    if word.endswith("ing") and len(word) >= 6 or word.endswith("ed") and len(word) >= 5 and not word.endswith("eed"):
        base = word[:-3] if word.endswith("ing") else word[:-2]
        if any(c in "aeiouy" for c in base[:-1]):  # "bridging", "bridged" → "bridg"; not "red", "string"
            if len(base) > 3 and base[-1] == base[-2] and base[-1] not in "lsz":
                base = base[:-1]  # "webbed" → "web"
            return base
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith(("ches", "shes", "sses", "xes", "zes")):
        return word[:-2]
    if word.endswith("ae"):
        return word[:-1]
    if word.endswith("i") and len(word) >= 4 and word[-2] not in "aeiou":  # nevi, thrombi
        return word[:-1] + "us"
    if word.endswith("s") and not word.endswith(("ss", "us", "is", "ous")):
        return word[:-1]
    return word


@lru_cache(maxsize=200_000)
def norm(word: str) -> str:
    """Normalised form of one word (lower case, shorthand expanded, canonical, stemmed)."""
    w = word.lower()
    w = w.removesuffix("'s")
    w = SHORTHAND.get(w, w)
    return CANONICAL.get(w) or _stem(w)


def is_plural(word: str, stem: str) -> bool:
    """Whether a lower-case word is a plural of its stem ("lipomas", "nevi", "vertebrae")."""
    if stem == word:
        return False
    return word.endswith(("s", "ae")) or (word.endswith("i") and stem.endswith("us"))


# Noun ending → the endings of the adjectives prose writes for it (hypotonia → hypotonic,
# microcephaly → microcephalic, spasticity → spastic, autism → autistic,
# hypermobility → hypermobile, obesity → obese, epilepsy → epileptic, hemolysis → hemolytic).
ADJECTIVE_ENDINGS = (
    ("icity", ("ic",)), ("ility", ("ile",)), ("ability", ("able",)), ("idity", ("id",)),
    ("psy", ("ptic",)), ("ysis", ("ytic",)), ("ism", ("ic", "istic")),
    ("ia", ("ic",)), ("ity", ("e",)), ("y", ("ic",)),
)
MIN_DERIVED = 4


def derived_forms(noun: str) -> list[str]:
    """Adjectives of a normalised lexicon noun, by the first ending that applies ("hypotonia" → ["hypotonic"])."""
    if len(noun) < 6:
        return []
    for ending, adjectives in ADJECTIVE_ENDINGS:
        if noun.endswith(ending):
            if ending == "y" and noun[-2] in "aeiou":
                return []
            base = noun[: -len(ending)]
            forms = [base + a for a in adjectives]
            return [f for f in forms if len(f) >= MIN_DERIVED and f not in STOP_WORDS and f not in WEAK_SINGLE_WORDS]
    return []


def derived_map(counts: dict[str, int]) -> dict[str, str]:
    """Adjective → noun for every noun of a vocabulary (word → how many labels use it); an adjective
    two nouns claim goes to the commoner ("hypotonic" → hypotonia, not ocular hypotony)."""
    claims: dict[str, set[str]] = {}
    for noun in counts:
        for adj in derived_forms(noun):
            if norm(adj) != noun:
                claims.setdefault(norm(adj), set()).add(noun)
    return {adj: min(nouns, key=lambda n: (-counts[n], len(n), n))
            for adj, nouns in claims.items() if adj not in nouns}
