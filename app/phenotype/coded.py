"""Problem-list Conditions → HPO (SNOMED CT via HPO cross-references, free text via the recognizer),
and rare diseases already diagnosed (ICD-9-CM and ICD-10-CM codes via ``knowledge.icd``, or the
disease named by the text, ICD title qualifiers removed)."""
from __future__ import annotations

from ..knowledge import icd
from ..knowledge.names import normalize_name, omim_names, orpha_names
from ..record import text_of
from .model import ABSENT, PRESENT, Phenotype
from .narrative import mentions_to_phenotypes
from .text import recognize

SNOMED = "http://snomed.info/sct"
ICD10 = icd.ICD10


def from_conditions(conditions: list[dict], kb) -> tuple[list[Phenotype], list[dict]]:
    """Phenotypes from the problem list, and the rare diseases it already names."""
    found: list[Phenotype] = []
    known: dict[str, dict] = {}
    for c in conditions:
        verification = text_of(c.get("verificationStatus")).lower()
        if verification == "entered-in-error":
            continue
        ref = f"Condition/{c.get('id')}"
        status = ABSENT if verification == "refuted" else PRESENT
        code = c.get("code") or {}
        text = text_of(code)
        names, hpos, mentions = _read(code, text, status == PRESENT, kb)
        for key, entry in names:
            known.setdefault(key, {**entry, "source": ref})
        entry_found: list[Phenotype] = []
        if hpos:
            entry_found = [Phenotype(hpo=h, label=kb.lexicon.name(h) or text, status=status, source=ref,
                                     origin="condition", evidence=text) for h in dict.fromkeys(hpos)]
        elif text:
            for p in mentions_to_phenotypes(text, ref, "condition", kb, mentions):
                if status == ABSENT:
                    p.status = ABSENT
                p.span = None  # the whole problem entry is the evidence
                p.evidence, p.context = text, None
                entry_found.append(p)
        for p in entry_found:
            # An entry that names a rare diagnosis is that diagnosis: its terms ("Acute myeloid leukemia")
            # are shown, not weighed as findings of some other rare disease.
            p.diagnosis = bool(names)
        found.extend(entry_found)
    return found, list(known.values())


# A population's problem lists repeat the same few hundred entries ("Essential hypertension", one
# ICD-10-CM code): what an entry's code and text name is read once per knowledge in use.
_READ: list = []  # [(lexicon, orphanet, {entry key: (names, hpos, mentions)})], the last few knowledges
_READ_MAX = 50_000
_ABSENT = object()  # an element left out, told apart from one given as null (read as "" and as None)


def _read(code: dict, text: str, present: bool, kb) -> tuple[list, list[str], list | None]:
    """(the rare diseases the entry names, when ``present``; the HPO terms of its SNOMED CT codings; the
    mentions in its text, when no coding gave a term) for a problem entry's code and text, memoised."""
    memo = next((m for lexicon, orphanet, m in _READ if lexicon is kb.lexicon and orphanet is kb.orphanet), None)
    if memo is None:
        memo = {}
        _READ[:] = [*_READ[-3:], (kb.lexicon, kb.orphanet, memo)]
    try:
        key = (present, text, tuple((c.get("system", _ABSENT), c.get("code", _ABSENT), c.get("display", _ABSENT))
                                    for c in code.get("coding", [])))
        read = memo.get(key)
    except (TypeError, AttributeError):  # unhashable parts: read it, unmemoised
        key = read = None
    if read is None:
        names = _known_diseases(code, text, kb) if present else []  # a refuted diagnosis is not known
        hpos = _from_snomed(code, text, kb)
        read = (names, hpos, recognize(text, kb.lexicon) if text and not hpos else None)
        if key is not None:
            if len(memo) >= _READ_MAX:
                memo.clear()
            memo[key] = read
    return read


def _from_snomed(code: dict, text: str, kb) -> list[str]:
    """HPO terms of the entry's SNOMED CT codings. HPO cross-references are many-to-many (SNOMED's
    "Wide nasal bridge" is xref'd by Wide nasal bridge and Wide nose): where a concept has several,
    the ones the entry's display or text names are kept, else all of them."""
    out: list[str] = []
    for coding in code.get("coding", []):
        if coding.get("system") != SNOMED:
            continue
        hpos = kb.lexicon.by_snomed(coding.get("code", ""))
        if len(hpos) > 1:
            named = {m.hpo for m in recognize(f"{coding.get('display') or ''}. {text}", kb.lexicon)}
            hpos = [h for h in hpos if h in named] or hpos
        out.extend(hpos)
    return out


def _known_diseases(code: dict, text: str, kb) -> list[tuple[str, dict]]:
    """(key, {"orpha", "omim", "name"}) for each rare disease this problem entry names.

    Codes: ICD-9-CM and ICD-10-CM through ``knowledge.icd`` (Orphanet's ICD-10 alignment confirmed
    by the code's title; ICD-9-CM through the CMS GEMs), plus Orphanet's own ICD-10 references.
    Text: the whole text, or the text less standard ICD qualifiers ("Multiple myeloma, without
    mention of having achieved remission" → "Multiple myeloma"), must be a disease's name (its
    words in any order: "Chronic lymphocytic leukemia of B-cell type"); a name merely contained in
    a longer text does not count, nor does an Orphanet category. An OMIM title that is also an HPO
    phenotype's name reads as the finding, not as a diagnosis: OMIM has entries for traits and common
    conditions ("Hypertelorism", "Epicanthus", "Keloids", "Schizophrenia"). Orphanet lists rare
    diseases only, so naming one of its disorders is a diagnosis even where HPO has the same words
    (MODY).
    """
    orphas: list[str] = []
    for coding in code.get("coding", []):
        system, value = coding.get("system"), coding.get("code", "")
        if system in ICD10:
            orphas += kb.orphanet.by_icd10(value)
        orphas += [o for o in icd.orphas(system, value) if kb.orphanet.disease(o)]
    omims: list[tuple[str, str]] = []
    for i, phrase in enumerate(icd.phrases(text) if text else []):
        key = normalize_name(phrase)
        named = orpha_names(kb.orphanet).get(key, []) or icd.orpha_words(kb.orphanet).get(icd.words_key(phrase), [])
        omims = [] if kb.lexicon.is_label(phrase) else omim_names().get(key, [])
        if i:  # a phrase left once qualifiers are gone: OMIM's traits ("Alcohol dependence") are not rare
            omims = [(m, name) for m, name in omims if kb.orphanet.by_omim(m, {"E"})]
        if named or omims:
            orphas += named
            break
    # an Orphanet category ("Alopecia", "Rare tumor") classifies disorders; it is no diagnosis
    orphas = [o for o in orphas if kb.orphanet.disease(o)["type"] != "Category"]
    found = [(f"ORPHA:{o}", {"orpha": f"ORPHA:{o}", "omim": None, "name": kb.orphanet.disease(o)["name"]})
             for o in dict.fromkeys(orphas)]
    for omim, name in omims:
        mapped = kb.orphanet.by_omim(omim, {"E"})
        if mapped:
            o = mapped[0]
            found.append((f"ORPHA:{o}", {"orpha": f"ORPHA:{o}", "omim": f"OMIM:{omim}",
                                         "name": kb.orphanet.disease(o)["name"]}))
        else:
            found.append((f"OMIM:{omim}", {"orpha": None, "omim": f"OMIM:{omim}", "name": name}))
    return found
