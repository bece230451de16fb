"""Embedded rare-disease ranker: HPO phenotypes in, ranked Orphanet/OMIM diseases out, on the CPU.

Method. Every disease is a set of annotated HPO terms with frequencies (Orphanet's classes; OMIM's
from HPO's ``phenotype.hpoa`` where it gives one). A patient term ``q`` is explained by disease
``D`` through its best ancestor ``a`` (``q`` itself included) that ``D`` implies (a frequency-aware
likelihood ratio over the HPO graph, after LIRICAL and Phenomizer):

    log LR(q | D) = max_a [ IC(a) + log f_D(a) - SPECIFICITY * (IC(q) - IC(a)) ]

``IC`` is hpo3's OMIM information content (``-log`` of the share of OMIM diseases annotated at or
below the term; a term none carries takes its most specific ancestor's); ``f_D(a)``, the chance
that ``D`` shows some finding at or below ``a``, is a noisy-OR over its annotations there,
``1 - prod(1 - f_b)``. The rest is mixed with a floor, ``(1 - NOISE) LR + NOISE``, so one
unexplained term cannot veto a disease. That LR is against the disease background;
:mod:`app.rank.posterior` turns it into P(rare) and P(disease | findings) (its note has that
model and its constants), and coverage (:meth:`Ranker._coverage`: how much of the disease's own
picture the patient shows) re-weighs the diseases' shares. OMIM entries Orphanet maps exactly (E)
merge into their disorder (:mod:`app.rank.entities`). History and benchmark figures: CHANGELOG.md.

Constants (where each value came from; "dev cases" are ``../shared/data/phenopackets-dev``,
measured by ``tests/bench/bench_ranker.py``):
- ``SPECIFICITY`` 1.5, nats of log LR lost per nat of IC the disease leaves unexplained: set with
  the first ranker (2025-11-25); 1.0 and 2.0 moved no view by more than 0.5 points on the dev cases.
- ``NOISE`` 0.05, probability that a finding is unrelated to the disease: set with the first ranker;
  0.02 and 0.1 moved no view by more than 0.5 points on the dev cases.
- ``COVERAGE_WEIGHT`` 0.25, weight (per finding, tempered like the evidence) of coverage in nats:
  measured on all 7,669 dev cases, 0 -> 0.25 raised every view; 0.4 lowered top-1.
- ``DEFAULT_FREQUENCY`` (entities) 0.5, probability counted for a finding whose source gives none
  (marked ``Entity.unknown_frequency``, shown without a frequency): an assumption, the middle of
  the scale; 0.3 and 0.7 moved no view by more than 0.5 points on the dev cases.
- ``MAX_FREQUENCY`` 0.99, cap on an annotation's probability: an assumption, so an obligate
  finding's ``log(1 - f)`` stays finite and annotations can still be wrong.
- ``MAX_CHANCE`` 0.9, cap on a record's own chance of a finding (``phenotype.labs``): an
  assumption, a lab finding is never certain in ordinary people.
- ``DEMOGRAPHICS`` on: sex and age on the priors (``posterior.UNLIKELY``); on the dev cases no-leak
  top-1/3/10 37.8/48.9/65.7 -> 38.0/49.5/65.9.
- ``FREQUENCY_LABELS``: Orphanet's frequency classes by their lower bounds (words shown).
- ``LOOK_FOR_MAX`` 8, findings to look for per suggestion: a display choice.
"""
from __future__ import annotations

import math
import threading
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
from scipy import sparse

from ..knowledge import hpoa, loinc, orphanet
from ..knowledge.diseases import Disease, omim_url, orpha_code, orpha_url
from ..knowledge.ontology import ontology
from . import background as background_mod
from . import entities, explain, posterior
from .ancestors import RecordView, mica, mica_at, shared_ic
from .entities import Entity

PHENOTYPIC_ABNORMALITY = "HP:0000118"

SPECIFICITY = 1.5
NOISE = 0.05
LOOK_FOR_MAX = 8
DEMOGRAPHICS = True
COVERAGE_WEIGHT = 0.25
MAX_CHANCE = 0.9
MAX_FREQUENCY = 0.99
FREQUENCY_LABELS = [(1.0, "obligate"), (0.8, "very frequent"), (0.3, "frequent"), (0.05, "occasional"), (0.0, "very rare")]



@dataclass(kw_only=True)
class Suggestion(Disease):
    """One ranked disease, with the evidence the chart and ``radar rank`` show."""

    score: float  # likelihood relative to the best match, per patient term, in (0, 1]; best = 1.0
    prevalence: str | None = None
    inheritance: list[str] = field(default_factory=list)
    onset: list[str] = field(default_factory=list)
    probability: float = 0.0  # P(this disease | the findings), calibrated (rank.posterior)
    evidence: list[dict] = field(default_factory=list)  # per-finding log10 LR against the population (explain)
    contrast: dict | None = None  # what tells it apart from the next candidate (explain), top suggestions only


@dataclass
class Assessment:
    """A record's rare-disease signal: P(rare), the ranked suggestions, and how many findings it used."""

    rare_probability: float  # P(a rare disease not already on the problem list | the findings)
    suggestions: list[Suggestion]
    findings: int  # present findings the model used (known phenotypic-abnormality terms, most specific)
    known_probability: float = 0.0  # P(a rare disease already on the problem list | the findings)


def _frequency_label(f: float | None) -> str | None:
    """Orphanet-style frequency words; None for None (the source gives no frequency)."""
    if f is None:
        return None
    return next(label for bound, label in FREQUENCY_LABELS if f >= bound)


class Ranker:
    """Ranks diseases against a patient's present (and absent) HPO terms."""

    def __init__(self, ontology, kb: orphanet.OrphanetKB, background: dict | None = None):
        self._ont = ontology
        self._kb = kb
        self._score_cache: dict[int, np.ndarray] = {}
        self._score_lock = threading.Lock()
        self._index_terms()
        self._entities = entities.build(ontology, kb, self._col, self._term_col, hpoa.load())
        self._by_known: dict = {}  # entities.named_index, made on first use
        self._build_matrices()
        self._set_background(background or {})

    @classmethod
    @lru_cache(maxsize=1)
    def load(cls) -> Ranker:
        """Load hpo3, the Orphanet knowledge and the precomputed matrices (once per process)."""
        return cls(ontology(), orphanet.load())

    # -- construction -------------------------------------------------------------------

    def _index_terms(self) -> None:
        """Columns for the phenotypic-abnormality terms; ancestor matrix; information content."""
        root = self._ont.get_hpo_object(PHENOTYPIC_ABNORMALITY)
        terms = [t for t in self._ont if t == root or root in t.all_parents]
        terms.sort(key=int)
        self._col = {int(t): i for i, t in enumerate(terms)}
        self._ids = [t.id for t in terms]
        self._labels = [t.name for t in terms]
        self._ic = np.array([t.information_content.omim for t in terms], dtype=np.float64)
        rows, cols = [], []
        for i, t in enumerate(terms):
            anc = [i] + [self._col[int(p)] for p in t.all_parents if int(p) in self._col]
            rows.extend([i] * len(anc))
            cols.extend(anc)
        self._anc = sparse.csr_matrix((np.ones(len(rows), dtype=np.float32), (rows, cols)), shape=(len(terms),) * 2)
        # hpo3 gives terms no OMIM disease is annotated with an IC of 0; a term is at least as
        # specific as its ancestors (else its LR is wildly high for every disease near it).
        self._ic = np.maximum.reduceat(self._ic[self._anc.indices], self._anc.indptr[:-1])

    def _term_col(self, hpo: str) -> int | None:
        try:
            return self._col.get(int(self._ont.get_hpo_object(hpo)))
        except (RuntimeError, ValueError, KeyError):
            return None

    def _build_matrices(self) -> None:
        """Disease x term matrix of log P(finding at or below the term | disease), noisy-OR.

        Annotations are treated as independent findings, so a disease with annotations
        ``b1..bk`` at or below ``a`` shows ``a`` with probability ``1 - prod(1 - f_bi)``:
        one sparse product ``sum log(1 - f)`` over the ancestor matrix.
        """
        n, m = len(self._entities), len(self._ic)
        rows, cols, freqs = [], [], []
        for i, e in enumerate(self._entities):
            rows.extend([i] * len(e.annotations))
            cols.extend(e.annotations.keys())
            freqs.extend(e.annotations.values())
        log_miss = np.log1p(-np.minimum(np.array(freqs), MAX_FREQUENCY))
        ann = sparse.csr_matrix((log_miss, (np.array(rows), np.array(cols))), shape=(n, m))
        closure = (ann @ self._anc).tocsc()
        closure.data = np.log(-np.expm1(closure.data)).astype(np.float32)
        self._logf = closure
        # The other direction (coverage): frequency-weighted annotations, and the descendants of each term.
        freq = sparse.csr_matrix((np.minimum(np.array(freqs), MAX_FREQUENCY), (np.array(rows), np.array(cols))),
                                 shape=(n, m))
        self._freq = freq
        self._freq_sum = np.asarray(freq.sum(axis=1)).ravel()
        self._desc = self._anc.tocsc()

    def set_background(self, background: dict) -> None:
        """Score against another general-population background (``rank.background`` data); for evaluation,
        e.g. cross-validation, where the background must not have seen the records it scores."""
        with self._score_lock:
            self._set_background(background)

    def _set_background(self, background: dict) -> None:
        """General-population frequencies per column, co-occurrences, and the disease priors."""
        col = {t: i for i, t in enumerate(self._ids)}
        self.background_name = background_mod.describe(background)
        self._bg_counts = background_mod.count_vector(background, col, len(self._ic))
        ref = background_mod.reference_vector(col, len(self._ic), background_mod.lab_defined(loinc.load()))
        self._p0 = background_mod.frequencies(background, self._bg_counts, ref, self._anc)
        self._pairs = background_mod.pair_table(background, col)
        self._log_prior = posterior.log_prior(np.array([e.prevalence_value for e in self._entities]),
                                              np.array([e.acquired for e in self._entities]))
        self._lr_cache: dict[int, np.ndarray] = {}
        self._group = entities.groups(self._entities)
        self._xlr = np.array([bool(e.inheritance) and all("X-linked recessive" in i for i in e.inheritance)
                              for e in self._entities])
        self._onset = np.array([min((posterior.ONSET_YEARS.get(o, 0) for o in e.onset), default=0)
                                for e in self._entities], dtype=float)

    # -- ranking ------------------------------------------------------------------------

    def term_label(self, hpo: str) -> str:
        """The HPO label of a term id, or the id itself when unknown."""
        try:
            return self._ont.get_hpo_object(hpo).name
        except (RuntimeError, ValueError):
            return hpo

    def _query_cols(self, terms) -> list[int]:
        """Known phenotypic-abnormality columns, most specific only (ancestors of others dropped)."""
        cols = {c for c in (self._term_col(t) for t in terms) if c is not None}
        implied = set()
        for c in cols:
            implied.update(a for a in self._ancestors(c) if a != c)
        return sorted(cols - implied)

    def _term_scores(self, q: int, specificity: float = SPECIFICITY, noise: float = NOISE) -> np.ndarray:
        """log LR of term column ``q`` for every disease."""
        anc = self._ancestors(q)
        anc = anc[np.argsort(self._ic[anc])]
        best = np.full(len(self._entities), -np.inf)
        indptr, indices, data = self._logf.indptr, self._logf.indices, self._logf.data
        for a in anc:
            lo, hi = indptr[a], indptr[a + 1]
            rows = indices[lo:hi]
            val = (1.0 + specificity) * self._ic[a] + data[lo:hi]
            best[rows] = np.maximum(best[rows], val)
        best -= specificity * self._ic[q]
        return np.logaddexp(best + math.log1p(-noise), math.log(noise))

    def _cached(self, cache: dict[int, np.ndarray], q: int, make) -> np.ndarray:
        # Common findings recur across patients and CDS calls; 512 vectors in all cost about 43 MB. Most
        # findings take the plain LR, so it has 384 (issue 23; the scores behind a plain LR are not kept).
        # The least recently used goes first: a hit moves to the end (the dict's order). Over the 588
        # records of the development screening population that misses 1,273 times on a second pass
        # where dropping the oldest entry missed 1,572 (0.2 ms a record).
        cached = cache.get(q)
        if cached is None:
            cached = make(q)
            cached.flags.writeable = False
            with self._score_lock:
                if len(cache) >= (384 if cache is self._lr_cache else 128):
                    cache.pop(next(iter(cache)))
                cache[q] = cached
        else:
            with self._score_lock:
                if cache.pop(q, None) is not None:  # another thread may have just evicted it
                    cache[q] = cached
        return cached

    def _cached_term_scores(self, q: int) -> np.ndarray:
        return self._cached(self._score_cache, q, self._term_scores)

    def _prior(self, sex: str | None, age_years: float | None) -> np.ndarray:
        if not DEMOGRAPHICS or (sex is None and age_years is None):
            return self._log_prior
        return self._log_prior + posterior.demographic_log_prior(self._xlr, self._onset, sex, age_years)

    def scores(self, present, absent=(), documented=(), sex=None, age_years=None, chance=None) -> np.ndarray:
        """Log posterior of every disease (internal order), as :meth:`assess` orders them; for the benchmarks."""
        cols = self._query_cols(present)
        return self._hypotheses(cols, documented, sex, age_years, floors=self._floors(cols, chance))[1].log_post

    def _floors(self, cols: list[int], chance: dict[str, float] | None) -> dict[int, float]:
        """Per query column, the record's own lower bound on the finding's ordinary frequency (``chance``:
        HPO id → how often an ordinary record with the same tests shows it, ``phenotype.labs``)."""
        out: dict[int, float] = {}
        wanted = set(cols)
        for hpo, p in (chance or {}).items():
            c = self._term_col(hpo)
            if c in wanted and p:
                out[c] = max(out.get(c, 0.0), min(float(p), MAX_CHANCE))
        return out

    def _hypotheses(self, cols: list[int], documented, sex, age_years, floors: dict[int, float] | None = None):
        """(the findings' log LR rows, the posterior) of a record's query columns; ``floors`` from :meth:`_floors`."""
        docs = self._documented_cols(documented)
        floors = floors or {}
        lrs = np.array([self._term_lr(q, docs, floors.get(q, 0.0)) for q in cols]) if cols \
            else np.zeros((0, len(self._entities)))
        weights = posterior.finding_weights([max(self._p0[q], floors.get(q, 0.0)) for q in cols])
        total = lrs.sum(axis=0)
        hyp = posterior.posterior(self._prior(sex, age_years), total, float(weights.sum()))
        if cols:
            # Which rare disease gets the share: each tempered by the findings that speak for it.
            hyp = posterior.reweigh(hyp, (posterior.disease_temperatures(lrs, weights) - hyp.temperature) * total)
        if cols and COVERAGE_WEIGHT:
            hyp = posterior.reweigh(hyp, COVERAGE_WEIGHT * hyp.temperature * len(cols) * self._coverage(cols))
        return lrs, hyp

    def _coverage(self, cols: list[int]) -> np.ndarray:
        """Per disease, how well the patient shows the disease's findings (nats; the disease-to-patient
        direction that the per-finding LR lacks): the frequency-weighted mean, over the disease's
        annotations ``b``, of the IC of the most informative ancestor ``b`` shares with a patient term.

        A disease with hundreds of annotations explains most vague neurodevelopmental records
        finding by finding; on coverage it scores what share of its picture the patient has.
        The shared ICs are ``ancestors.shared_ic`` over every ancestor of the patient's terms at once.
        """
        shared = shared_ic(self._desc, self._ic, np.unique(np.concatenate([self._ancestors(q) for q in cols])))
        return (self._freq @ shared) / self._freq_sum

    def _term_lr(self, q: int, documented: set[int], floor: float = 0.0) -> np.ndarray:
        """log LR of finding ``q`` against "no rare disease", for every disease (rank.posterior);
        ``floor``: the record's own lower bound on the finding's ordinary frequency."""
        p0 = max(self._p0[q], floor)
        pairs_q = self._pairs.get(q)
        if documented and pairs_q:
            # Only conditions seen with q in ordinary records can explain it; q's relatives cannot.
            explaining = [c for c in pairs_q if c in documented and not self._related(c, q)]
            p0 = posterior.explained_frequency(p0, pairs_q, explaining, self._bg_counts)
        if p0 == self._p0[q]:
            return self._cached(self._lr_cache, q, self._plain_term_lr)
        return posterior.log_lr(self._cached_term_scores(q), self._ic[q], p0)

    def _plain_term_lr(self, q: int) -> np.ndarray:
        return posterior.log_lr(self._term_scores(q), self._ic[q], self._p0[q])

    def _related(self, a: int, b: int) -> bool:
        return b in self._ancestors(a) or a in self._ancestors(b)

    def _documented_cols(self, documented) -> set[int]:
        """Columns of the documented conditions and all their ancestors (what they explain with)."""
        out: set[int] = set()
        for c in (self._term_col(t) for t in documented):
            if c is not None:
                out.update(self._ancestors(c).tolist())
        return out

    def assess(self, present: list[str], absent: list[str] = (), *, documented: list[str] = (),
               top: int = 10, exclude_orpha: set[str] = (), exclude_omim: set[str] = (), evidence_for: int = 3,
               sex: str | None = None, age_years: float | None = None,
               chance: dict[str, float] | None = None) -> Assessment:
        """P(rare), the ranked suggestions with P(disease | findings), and per-finding bars for the first few.

        ``documented`` are the present terms that come from the problem list (documented
        conditions): findings that one of them explains in ordinary people weigh less.
        ``exclude_orpha`` (``"558"`` or ``"ORPHA:558"``) and ``exclude_omim`` (``"OMIM:154700"``) are
        diseases already diagnosed: they (and the OMIM entries Orphanet maps to them) are not
        suggested, and their share of the posterior is ``known_probability``, not P(rare).
        ``absent`` terms steer "look for" only. Unknown or non-phenotype ids are ignored. ``chance``
        (HPO id → probability) raises a finding's ordinary frequency for this record (``_floors``).
        """
        cols = self._query_cols(present)
        view = self._view(cols, {c for c in (self._term_col(t) for t in absent) if c is not None})
        lrs, hyp = self._hypotheses(cols, documented, sex, age_years, floors=self._floors(cols, chance))
        excluded = {orphanet.bare_orpha(c) for c in exclude_orpha}
        exclude_omim = set(exclude_omim)
        known = np.zeros(len(self._entities), bool)
        if excluded or exclude_omim:
            self._by_known = self._by_known or entities.named_index(self._entities)
            known[entities.named(self._by_known, excluded, exclude_omim)] = True
        p_known = float(np.exp(hyp.log_post[known]).sum()) if known.any() else 0.0
        rare = max(0.0, 1.0 - hyp.none - p_known)
        if not cols:
            return Assessment(rare_probability=rare, suggestions=[], findings=0, known_probability=p_known)
        order = posterior.best_first(hyp.log_post, top + int(known.sum()))
        # The explanations' common ancestors, for every annotation of the suggestions at once.
        view.terms = np.unique(np.concatenate([np.fromiter(self._entities[i].annotations, np.int64) for i in order]))
        view.mica = mica(self._anc, self._ic, view.ancestors, view.terms)
        best = hyp.log_post[order[0]]
        out, chosen = [], []
        for i in order:
            if known[i]:
                continue
            relative = math.exp((hyp.log_post[i] - best) / len(cols))
            s = self._suggestion(len(out) + 1, self._entities[i], relative, view)
            s.probability = hyp.probability(i)
            out.append(s)
            chosen.append(int(i))
            if len(out) >= top:
                break
        explain.annotate(out[:evidence_for], chosen, lrs, cols, self._entities, self._group, self._ancestors,
                         self._ids, self._labels)
        return Assessment(rare_probability=rare, suggestions=out, findings=len(cols), known_probability=p_known)

    def rank(self, present: list[str], absent: list[str] = (), *, top: int = 10, exclude_orpha: set[str] = (),
             documented: list[str] = (), sex: str | None = None, age_years: float | None = None) -> list[Suggestion]:
        """The suggestions of :meth:`assess` (ordered by posterior); no usable present term gives ``[]``.

        ``sex`` (``"female"``/``"male"``) and ``age_years`` adjust the priors (``posterior.demographic_log_prior``).
        """
        return self.assess(present, absent, documented=documented, top=top, exclude_orpha=exclude_orpha,
                           sex=sex, age_years=age_years).suggestions

    # -- explanation --------------------------------------------------------------------

    def _ancestors(self, col: int) -> np.ndarray:
        return self._anc.indices[self._anc.indptr[col]:self._anc.indptr[col + 1]]

    def _descendants(self, col: int) -> np.ndarray:
        return self._desc.indices[self._desc.indptr[col]:self._desc.indptr[col + 1]]

    def _view(self, cols: list[int], absent: set[int]) -> RecordView:
        """What every suggestion's explanation of one record needs, computed once for the record."""
        recorded = sorted(set(cols) | set(absent))
        related = np.zeros(len(self._ic), bool)
        below = np.zeros(len(self._ic), bool)
        for c in recorded:
            related[self._ancestors(c)] = True
            below[self._descendants(c)] = True
        ancestors = np.zeros((len(cols), len(self._ic)), bool)
        for row, q in enumerate(cols):
            ancestors[row, self._ancestors(q)] = True
        return RecordView(cols=list(cols), ancestors=ancestors, related=related, below=below)

    def _matches(self, view: RecordView, e: Entity) -> list[dict]:
        """The patient terms that raise the disease's score, each with the annotation explaining it.

        The annotation is the one giving the term its log LR (the term itself, a descendant,
        or a relative through an informative shared ancestor); terms the disease does not
        explain better than chance are left out.
        """
        ann = np.fromiter(e.annotations.keys(), dtype=np.int64)
        freq = np.fromiter(e.annotations.values(), dtype=np.float64)
        order = np.lexsort((ann, -freq))
        ann, freq = ann[order], freq[order]
        out = []
        if not len(ann) or not view.cols:
            return out
        llrs = (1.0 + SPECIFICITY) * mica_at(self._anc, self._ic, view, ann) + np.log(freq)
        llrs = llrs - (SPECIFICITY * self._ic[view.cols])[:, None]
        bests = np.argmax(llrs, axis=1)  # per patient term, the first maximum: the most frequent annotation
        for q, best, llr in zip(view.cols, bests.tolist(), llrs[np.arange(len(bests)), bests].tolist(), strict=True):
            if llr <= 0.0:
                continue
            b = int(ann[best])
            known = None if b in e.unknown_frequency else freq[best]
            out.append({"hpo": self._ids[q], "label": self._labels[q], "disease_hpo": self._ids[b],
                        "disease_label": self._labels[b], "frequency": _frequency_label(known)})
        return out

    def _look_for(self, view: RecordView, e: Entity) -> list[dict]:
        """Frequent, informative disease terms the patient lacks (not related to what is recorded)."""
        ann = np.fromiter(e.annotations.keys(), dtype=np.int64)
        freq = np.fromiter(e.annotations.values(), dtype=np.float64)
        keep = ~(view.related[ann] | view.below[ann])
        ann, freq = ann[keep], freq[keep]
        order = np.lexsort((ann, -self._ic[ann], -freq))[:LOOK_FOR_MAX]
        return [{"hpo": self._ids[b], "label": self._labels[b],
                 "frequency": _frequency_label(None if b in e.unknown_frequency else f)}
                for b, f in zip(ann[order].tolist(), freq[order].tolist(), strict=False)]

    def _suggestion(self, rank: int, e: Entity, score: float, view: RecordView) -> Suggestion:
        url = orpha_url(e.orpha) if e.orpha else omim_url(e.omim[0])
        return Suggestion(
            rank=rank, name=e.name, orpha=orpha_code(e.orpha), omim=list(e.omim),
            score=round(score, 4), url=url, matching=self._matches(view, e), look_for=self._look_for(view, e),
            prevalence=e.prevalence, inheritance=list(e.inheritance), onset=list(e.onset),
        )

    def explain(self, orpha: str, present: list[str], absent: list[str] = ()) -> tuple[list[dict], list[dict]]:
        """(matching, look_for) of an Orphanet disorder for these terms, as in ``Suggestion``; ([], []) if unknown."""
        code = orphanet.bare_orpha(orpha)
        if not hasattr(self, "_by_orpha"):
            self._by_orpha = {e.orpha: e for e in self._entities if e.orpha}
        e = self._by_orpha.get(code)
        if e is None:
            return [], []
        cols = self._query_cols(present)
        view = self._view(cols, {c for c in (self._term_col(t) for t in absent) if c is not None})
        return self._matches(view, e), self._look_for(view, e)

