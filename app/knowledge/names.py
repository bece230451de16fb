"""Disease names → codes: the Orphanet/OMIM name indexes that grounding and coded problems both use.

Two strengths of matching, for two jobs. A problem-list entry names a disease already diagnosed
only when its whole text is a disease name (``normalize_name``: case, punctuation and spacing
folded; :func:`orpha_names`, :func:`omim_names`). A model's answer is free text, so grounding
evens out more (``normalize``: accents, Greek letters, roman numerals, possessives) and may match
loosely or fuzzily (:class:`NameIndex`).
"""
from __future__ import annotations

import re
import threading
import unicodedata
from functools import lru_cache

from rapidfuzz import fuzz, process

from .ontology import ontology

MIN_FUZZY = 5  # shorter names (abbreviations) must match exactly
LOOSE_SCORE = 97.0  # score of a match that needed the loose key (suffix words dropped, word order)


# -- normalising names -------------------------------------------------------------------------

GREEK = {"α": "alpha", "β": "beta", "γ": "gamma", "δ": "delta", "ε": "epsilon", "ζ": "zeta", "η": "eta",
         "θ": "theta", "ι": "iota", "κ": "kappa", "λ": "lambda", "μ": "mu", "ν": "nu", "ξ": "xi",
         "π": "pi", "ρ": "rho", "σ": "sigma", "τ": "tau", "φ": "phi", "χ": "chi", "ψ": "psi", "ω": "omega"}
ROMAN = {"ii": "2", "iii": "3", "iv": "4", "vi": "6", "vii": "7", "viii": "8", "ix": "9", "xi": "11", "xii": "12",
         "xiii": "13", "xiv": "14", "xv": "15", "xvi": "16", "xvii": "17", "xviii": "18", "xix": "19", "xx": "20"}
SINGLE_ROMAN = {"i": "1", "v": "5", "x": "10"}
ROMAN_AFTER = {"type", "group", "class", "grade", "stage", "form", "factor", "complementation", "subtype"}
LOOSE_DROP = {"syndrome", "syndromes", "disease", "diseases", "disorder", "the", "of", "and"}


def normalize(name: str) -> str:
    """Case, accents, Greek letters, possessives, punctuation and roman numerals (type II → type 2) evened out."""
    text = "".join(GREEK.get(c, c) for c in name.lower())
    text = unicodedata.normalize("NFKD", text)
    text = "".join(c for c in text if not unicodedata.combining(c))
    text = re.sub(r"(\w)['’`]s\b", r"\1", text)
    text = re.sub(r"['’`]", "", text)
    text = re.sub(r"(?<=[a-z])(?=\d)|(?<=\d)(?=[a-z])", " ", text)  # "CPT2" = "CPT 2", "SMA1" = "SMA 1"
    tokens = re.sub(r"[^a-z0-9]+", " ", text).split()
    out = []
    for i, t in enumerate(tokens):
        if t in ROMAN:
            t = ROMAN[t]
        elif t in SINGLE_ROMAN and i and tokens[i - 1] in ROMAN_AFTER:
            t = SINGLE_ROMAN[t]
        out.append(t)
    return " ".join(out)


def loose(normalized: str) -> str:
    """The normalised name without "syndrome"/"disease"/"disorder" and filler words, in word order."""
    return " ".join(sorted(t for t in normalized.split() if t not in LOOSE_DROP))


def _numbers(normalized: str) -> set[str]:
    return set(re.findall(r"\d+", normalized))


# -- the name index ----------------------------------------------------------------------------

TYPE_RANK = {"Disease": 0, "Malformation syndrome": 0, "Clinical syndrome": 1, "Biological anomaly": 1,
             "Morphological anomaly": 1, "Particular clinical situation in a disease or syndrome": 1,
             "Clinical subtype": 2, "Etiological subtype": 2, "Histopathological subtype": 2,
             "Clinical group": 3, "Category": 4}


class NameIndex:
    """Normalised Orphanet names and synonyms → ORPHAcodes (exact, loose and fuzzy lookup)."""

    def __init__(self, orphanet):
        self._kb = orphanet
        exact: dict[str, list[tuple]] = {}
        for code, d in orphanet.disorders.items():
            for i, name in enumerate((d["name"], *d["synonyms"])):
                if name:
                    # preferred names before synonyms, diseases before groups, then the lower code
                    exact.setdefault(normalize(name), []).append((i > 0, TYPE_RANK.get(d["type"], 5), int(code), code))
        self.exact = {k: [c for *_, c in sorted(v)] for k, v in exact.items() if k}
        looser: dict[str, list[str]] = {}
        for key in sorted(self.exact):
            for code in self.exact[key]:
                if code not in looser.setdefault(loose(key), []):
                    looser[loose(key)].append(code)
        self.loose = looser
        self.keys = list(self.exact)
        # token_sort_ratio is ratio over sorted words: sorting the choices once makes fuzzy lookup ~10x faster
        self.sorted_keys = [" ".join(sorted(k.split())) for k in self.keys]

    def lookup(self, name: str, threshold: float) -> tuple[str | None, float]:
        """(bare ORPHAcode, score 0–100) for ``name``, or (None, best score below the threshold)."""
        key = normalize(name)
        if not key:
            return None, 0.0
        if key in self.exact:
            return self.exact[key][0], 100.0
        if loose(key) in self.loose:
            return self.loose[loose(key)][0], LOOSE_SCORE
        if len(key) < MIN_FUZZY:
            return None, 0.0
        return self._fuzzy(key, threshold)

    def _fuzzy(self, key: str, threshold: float) -> tuple[str | None, float]:
        best = 0.0
        numbers = _numbers(key)
        query = " ".join(sorted(key.split()))
        for _, score, i in process.extract(query, self.sorted_keys, scorer=fuzz.ratio, limit=5,
                                           score_cutoff=min(threshold, 80.0)):
            best = max(best, score)
            # "type 11" must not become "type 1": numbers have to agree exactly
            if score >= threshold and _numbers(self.keys[i]) == numbers:
                return self.exact[self.keys[i]][0], float(score)
        return None, float(best)


_indexes: dict[int, tuple[object, NameIndex]] = {}
_lock = threading.Lock()


def name_index(orphanet) -> NameIndex:
    """The name index of an OrphanetKB, built on first use (about a second) and kept for the process."""
    with _lock:
        cached = _indexes.get(id(orphanet))
        if cached is None or cached[0] is not orphanet:
            cached = (orphanet, NameIndex(orphanet))
            _indexes[id(orphanet)] = cached
        return cached[1]




@lru_cache(maxsize=1)
def omim_titles() -> dict[str, str]:
    """OMIM number → disease name, from hpo3's annotations (loaded once)."""
    return {str(d.id): d.name for d in ontology().omim_diseases}


# -- exact names of problem-list entries ------------------------------------------------------

def normalize_name(name: str) -> str:
    """Case, punctuation and spacing folded, for exact name look-ups."""
    return " ".join(re.sub(r"[^\w\s]", " ", name.lower()).split())


_INDEXES: dict[int, dict[str, list[str]]] = {}


@lru_cache(maxsize=1)
def omim_names() -> dict[str, list[tuple[str, str]]]:
    """OMIM disease names (hpo3) → [(OMIM number, name)]."""
    index: dict[str, list[tuple[str, str]]] = {}
    for disease in ontology().omim_diseases:
        key = normalize_name(disease.name)
        if len(key) >= 4:
            index.setdefault(key, []).append((str(disease.id), disease.name))
    return index


def orpha_names(orphanet) -> dict[str, list[str]]:
    """Exact Orphanet names and synonyms (``normalize_name``) → ORPHAcodes, built once per OrphanetKB."""
    # Only the whole problem text naming a disorder counts: a word inside it would be a guess.
    if id(orphanet) in _INDEXES:
        return _INDEXES[id(orphanet)]
    index = _INDEXES[id(orphanet)] = {}
    for code, name in orphanet.all_names():
        key = normalize_name(name)
        if len(key) >= 4 and code not in index.setdefault(key, []):
            index[key].append(code)
    return index
