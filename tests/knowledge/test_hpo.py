"""HPO: one OBO parser, and one HPO release pairing at run time (committed data, no ../shared)."""
from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from app.knowledge import frequencies, hpo
from app.knowledge.ontology import ontology

ROOT = Path(__file__).resolve().parents[2]
OBO = """format-version: 1.2
data-version: hp/releases/2099-01-01

[Term]
id: HP:0000001
name: All

[Term]
id: HP:0000118
name: Phenotypic abnormality
synonym: "Organ abnormality" RELATED []
xref: UMLS:C4021819
is_a: HP:0000001 ! All

[Term]
id: HP:0000002
name: Old
is_obsolete: true
replaced_by: HP:0000118

[Typedef]
id: part_of
name: part of
"""


def test_one_obo_parser_reads_version_stanzas_and_gzip(tmp_path):
    version, stanzas = hpo.parse_obo(OBO.splitlines(keepends=True))
    assert version == "hp/releases/2099-01-01"
    assert [st["id"] for st in stanzas] == [["HP:0000001"], ["HP:0000118"], ["HP:0000002"]]  # no Typedef
    assert stanzas[1]["xref"] == ["UMLS:C4021819"] and stanzas[1]["is_a"] == ["HP:0000001 ! All"]
    path = tmp_path / "hp.obo.gz"
    path.write_bytes(gzip.compress(OBO.encode()))
    assert hpo.read_obo(path) == (version, stanzas)
    assert hpo.obo_version(path) == version


def test_no_other_module_parses_obo():
    readers = sorted(str(p.relative_to(ROOT)) for folder in ("app", "dev") for p in (ROOT / folder).rglob("*.py")
                     if '"[Term]"' in p.read_text(encoding="utf-8") or "'[Term]'" in p.read_text(encoding="utf-8"))
    assert readers == ["app/knowledge/hpo.py"]
    for p in (ROOT / "app").rglob("*.py"):
        assert "_parse_obo" not in p.read_text(encoding="utf-8"), p


def test_the_committed_knowledge_is_for_the_installed_hpo3_release():
    lexicon = hpo.load_lexicon()
    assert lexicon.hpo3_version == ontology().version()
    assert frequencies.load()["hpo_version"] == lexicon.version


def test_knowledge_compiled_for_another_release_refuses_to_start():
    lexicon = hpo.Lexicon({"version": "hp/releases/2025-01-16", "hpo3_version": "2025-11-24", "terms": {},
                           "alt_ids": {}, "replaced_by": {}})
    hpo.check_releases(lexicon, "hp/releases/2025-01-16", "2025-11-24")
    expected = r"hpo3's HPO 2025-11-24, the installed hpo3 ships HPO 2026-01-08.*radar build-knowledge"
    with pytest.raises(RuntimeError, match=expected):
        hpo.check_releases(lexicon, "hp/releases/2025-01-16", "2026-01-08")
    with pytest.raises(RuntimeError, match="frequencies were compiled from hp/releases/2024-08-13"):
        hpo.check_releases(lexicon, "hp/releases/2024-08-13", "2025-11-24")
    unrecorded = hpo.Lexicon({"version": "hp/releases/2025-01-16", "terms": {}, "alt_ids": {}, "replaced_by": {}})
    with pytest.raises(RuntimeError, match="unrecorded"):
        hpo.check_releases(unrecorded, None, "2025-11-24")
