"""From per-finding likelihood ratios to calibrated probabilities: P(rare) and P(disease | findings).

The model, in a paragraph. The hypotheses are the knowledge base's rare diseases and "no rare
disease". A person with a rare disease is an ordinary person *plus* the disease, so a finding
``q`` occurs with probability ``1 - (1 - P_D(q)) (1 - p0(q))``, where ``p0(q)`` is how often
ordinary people's records show the finding (``background.frequencies``: real-world population
frequencies, a conservative floor where no source has seen it, at least the chance that the
record's own lab results show it, raised when a documented common condition explains it) and
``P_D(q)`` the disease's own (the ranker's frequency-aware LR against the disease background,
times that background). Against "no rare disease" each finding then has the likelihood ratio
``LR_D(q) = 1 + P_D(q) (1 - p0(q)) / p0(q)`` (LIRICAL-style, one per finding): anxiety,
hypertension or a high potassium among forty results weigh about nothing, a finding no ordinary
record shows weighs a lot, and one the disease does not explain costs nothing against "no rare
disease" but loses to the diseases that do explain it. Priors come from Orphanet prevalence
classes, scaled so that all rare diseases together have ``RARE_SHARE`` of people (3.5–5.9 % in
Nguengang Wakap et al. 2020), tempered by ``PRIOR_WEIGHT``, and times ``EXPOSURE`` for a disease
that needs an exposure (an infection, a poisoning, a complication of another illness). Findings
are not independent (one eye problem brings others) and annotations are coarse, so the likelihood
is tempered, a power posterior whose evidence grows like the square root of the number of
findings: ``log P(h | Q) = PRIOR_WEIGHT * log prior(h) + tau(n) * sum_q log LR_h(q) + c`` with
``tau(n) = TEMPERATURE * (n / REFERENCE_FINDINGS) ** (EVIDENCE_EXPONENT - 1)``, where ``n`` counts
each finding by how informative it is (``finding_weights``), so that the ordinary findings of a
busy record do not dilute the few telling ones. P(rare) is one minus P("no rare disease"), and the
suggestions' probabilities are the diseases' shares.

Constants (unit; where the value came from). "bench_real" is ``tests/bench/bench_real.py``: 600
rare cases inside the synthetic general population and inside real MIMIC-IV demo inpatients, whose
*tune* half chose values and whose *report* half never did; "dev cases" are the phenopacket
development cases of ``tests/bench/bench_ranker.py``. Earlier values and figures: CHANGELOG.md.
- ``RARE_SHARE`` 0.04, share of people with one of the rare diseases: Nguengang Wakap et al.,
  Eur J Hum Genet 2020 (3.5-5.9 %).
- ``PRIOR_WEIGHT`` 0.2, exponent on a disease's prevalence: set with this model (2026-12-01);
  0 to 0.3 moved no view of the dev cases by more than 0.5 points.
- ``PREVALENCE``, fraction of people per Orphanet prevalence class: the geometric middle of each
  class; the open classes (``<1 / 1 000 000``, ``>1 / 1000``) at 5e-7 and 2e-3 by assumption.
  ``PREVALENCE_KINDS`` are the record types read as a prevalence (:func:`prevalence_record`).
- ``INCIDENCE_YEARS`` 20, years: an assumption, annual incidence times years lived with the
  disease approximates its prevalence (capped at the highest class).
- ``UNKNOWN_PREVALENCE`` 1e-6, fraction of people, for entries without a prevalence (mostly
  OMIM-only entries, often single families): an assumption; 3e-7 to 1e-5 moved no view of the
  dev cases by more than 0.5 points.
- ``EXPOSURE`` 0.01, share of screened people with the exposure an acquired disease needs: a
  stated judgement, not fitted; a documented exposure is for the clinician.
- ``UNLIKELY`` log(0.1), log prior factor for a woman with an X-linked recessive disease or a
  person younger than every onset class (``ONSET_YEARS``: earliest age in years of each Orphanet
  onset class, with a margin): a judgement; on the dev cases' whole EHR path top-1 42.2 -> 42.7 %,
  no-leak 21.9 -> 22.6 %.
- ``TEMPERATURE`` 0.3, likelihood exponent at ``REFERENCE_FINDINGS`` (10 findings, where the
  exponent is stated; a scale, not fitted): bench_real tune half, 0.3 keeps the synthetic general
  population and the common-problem adults and children unflagged with a no-leak top-suggestion
  ECE of 0.06; 0.4 flags 6 % of the synthetic population and a third of the tune inpatients.
- ``EVIDENCE_EXPONENT`` 0.5, evidence grows like ``n ** 0.5``: chosen with ``TEMPERATURE`` on the
  synthetic general population and the bench_real tune half (no separate figure recorded).
- ``INFORMATIVE_DIGITS`` 3 and ``ORDINARY_DIGITS`` 0, decimal digits of ``-log10 p0``: a finding
  1 in 1,000 ordinary records show counts fully, a commoner one by its share of those digits.
  bench_real against counting every finding alike: AUROC the same, rare cases flagged 67/71 %
  (real/synthetic) against 50/55 %, top-suggestion ECE 0.060 against 0.101. ``ORDINARY_DIGITS``
  1 (findings above 10 % not counted) lost 4 points of synthetic AUROC.
- ``SPEAKS`` 1.0, nats of log LR at which a finding counts fully for a disease, and ``SHARED`` 0.1,
  share of every finding counted for every disease (:func:`disease_temperatures`): bench_real tune
  half, top-10 44 -> 52 % (``SHARED`` 0.25: 50); report half 49 -> 55 %.
- ``EXPLAIN_WEIGHT`` 2, pseudo-records pulling P(q | documented c) back to plain ``p0(q)``: an
  assumption (few records of a condition say little).
- ``MAX_DISEASE_FREQUENCY`` 0.99, cap on ``P_D(q)``: an assumption, as the ranker's ``MAX_FREQUENCY``.
- In :mod:`app.rank.background`: ``UNSEEN_FREQUENCY`` 3e-4, fraction of ordinary records, the
  floor for a finding no population source has seen: bench_real tune half (1e-3 lost AUROC
  everywhere); ``DEFAULT_WEIGHT`` 1000, pseudo-records pulling a site's own counts toward the
  shipped default: an assumption, not fitted (a site needs about that many records before its
  counts outweigh the default); ``MIN_PAIR`` 2 records for a co-occurrence to count: an
  assumption. (``ROOT_PRIOR``, the learned background's prior, went with that background.)
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.special import logsumexp as _scipy_logsumexp

RARE_SHARE = 0.04
TEMPERATURE = 0.3
REFERENCE_FINDINGS = 10
EVIDENCE_EXPONENT = 0.5
PRIOR_WEIGHT = 0.2
INFORMATIVE_DIGITS = 3.0
ORDINARY_DIGITS = 0.0
SPEAKS = 1.0
SHARED = 0.1
EXPLAIN_WEIGHT = 2.0
MAX_DISEASE_FREQUENCY = 0.99
EXPOSURE = 0.01
UNKNOWN_PREVALENCE = 1e-6

PREVALENCE = {"<1 / 1 000 000": 5e-7, "1-9 / 1 000 000": 3e-6, "1-9 / 100 000": 3e-5,
              "1-5 / 10 000": 2.2e-4, "6-9 / 10 000": 7.3e-4, ">1 / 1000": 2e-3}
PREVALENCE_KINDS = ("Point prevalence", "Prevalence at birth", "Lifetime Prevalence")
INCIDENCE_YEARS = 20


@dataclass
class Hypotheses:
    """The posterior over every disease and "no rare disease" for one record."""

    log_post: np.ndarray  # per disease, normalised together with ``log_none``
    log_none: float
    findings: int
    temperature: float

    def probability(self, i: int) -> float:
        """P(disease i | findings)."""
        return float(math.exp(self.log_post[i]))

    @property
    def none(self) -> float:
        """P(no rare disease | findings)."""
        return float(math.exp(self.log_none))


def prevalence_record(records: list[dict]) -> dict | None:
    """The one Orphanet prevalence record both shown (``entities.prevalence_text``) and used for the
    prior (:func:`prevalence`): a prevalence (point, at birth, lifetime) before an annual incidence,
    worldwide before one area, else Orphanet's own order; None without records."""
    if not records:
        return None
    return min(records, key=lambda r: (r["type"] not in PREVALENCE_KINDS, r["geo"] != "Worldwide"))


def prevalence(records: list[dict]) -> float:
    """A representative prevalence (a fraction of people) from :func:`prevalence_record`'s record."""
    best = prevalence_record(records)
    if best is None:
        return UNKNOWN_PREVALENCE
    value = PREVALENCE.get(best["class"], UNKNOWN_PREVALENCE)
    if best["type"] == "Annual incidence":
        value = min(value * INCIDENCE_YEARS, PREVALENCE[">1 / 1000"])
    return value


def logsumexp(a) -> np.float64:
    """``scipy.special.logsumexp`` of a 1-D float array, the same number to the last bit, at a tenth
    of its cost for the ranker's vectors (scipy's array-API path spends 0.4 ms a call on checks and
    copies; three calls a record). The same steps: the maxima taken out of the sum, the rest shifted,
    exponentiated and summed, ``log1p`` of the sum over the count of maxima, plus ``log`` of the count
    plus the maximum. Anything but a finite maximum (an empty, infinite or NaN input) goes to scipy."""
    a = np.asarray(a, dtype=float)
    top = a.max() if a.ndim == 1 and a.size else np.nan
    if not np.isfinite(top):
        return _scipy_logsumexp(a)
    mask = a == top
    count = np.float64(np.count_nonzero(mask))
    total = np.exp(np.where(mask, -np.inf, a) - top).sum()
    if total != 0:
        total = total / count
    return np.log1p(total) + np.log(count) + top


def best_first(log_post: np.ndarray, k: int) -> np.ndarray:
    """The diseases in order of ``log_post``, highest first, ties by position (``np.lexsort`` of
    (position, -log_post)), as far as the first ``k`` and every disease tied with the ``k``-th: the
    same prefix as sorting all ten thousand, for a partition's cost."""
    neg = -log_post
    if k < len(neg):
        kth = np.partition(neg, k - 1)[k - 1]
        if np.isfinite(kth):
            candidates = np.flatnonzero(neg <= kth)
            return candidates[np.lexsort((candidates, neg[candidates]))]
    return np.lexsort((np.arange(len(neg)), neg))


def log_prior(prevalences: np.ndarray, acquired: np.ndarray | None = None) -> np.ndarray:
    """Tempered log prior per disease, scaled so that all diseases together have ``RARE_SHARE``;
    an ``acquired`` disease (an infection, a poisoning, a complication) also carries the chance of
    its exposure, ``EXPOSURE``, which a record of findings alone does not show."""
    w = PRIOR_WEIGHT * np.log(prevalences)
    if acquired is not None:
        w = w + math.log(EXPOSURE) * acquired
    return w - logsumexp(w) + math.log(RARE_SHARE)


def log_lr(term_score: np.ndarray, ic: float, p0: float) -> np.ndarray:
    """log LR of one finding for every disease against "no rare disease" (see the module docstring).

    ``term_score`` is the ranker's log LR against the disease background ``exp(-ic)``, so
    ``P_D(q) = exp(term_score - ic)``.
    """
    p_disease = np.minimum(np.exp(term_score - ic), MAX_DISEASE_FREQUENCY)
    return np.log1p(p_disease * ((1.0 - p0) / p0))


ONSET_YEARS = {"Antenatal": 0, "Neonatal": 0, "Infancy": 0, "Childhood": 1, "Adolescent": 10, "Adult": 16,
               "Elderly": 50, "All ages": 0}
UNLIKELY = math.log(0.1)


def demographic_log_prior(female_only_unlikely: np.ndarray, earliest_onset: np.ndarray, sex: str | None,
                          age_years: float | None) -> np.ndarray:
    """Per disease, the log factor the patient's sex and age put on the prior (0 where unknown).

    X-linked recessive diseases are rare in women (carriers are mostly mildly affected or not at
    all), and a disease whose every onset class starts in adulthood is unlikely in a child.
    """
    out = np.zeros(len(earliest_onset))
    if (sex or "").lower() == "female":
        out[female_only_unlikely] += UNLIKELY
    if age_years is not None:
        out[earliest_onset > age_years] += UNLIKELY
    return out


def posterior(prior: np.ndarray, total_log_lr: np.ndarray, findings: float) -> Hypotheses:
    """The tempered posterior over the diseases and "no rare disease" (whose likelihood is the reference)."""
    tau = temperature(findings)
    z = prior + tau * total_log_lr
    z_none = math.log1p(-RARE_SHARE)
    norm = float(logsumexp(np.append(z, z_none)))
    return Hypotheses(log_post=z - norm, log_none=z_none - norm, findings=findings, temperature=tau)


def reweigh(hyp: Hypotheses, log_weights: np.ndarray) -> Hypotheses:
    """The posterior with the diseases' shares multiplied by ``exp(log_weights)`` and renormalised
    among themselves: P(rare) and P(no rare disease) stay as the findings' likelihoods made them;
    only which rare disease gets the share changes."""
    z = hyp.log_post + log_weights
    z = z - logsumexp(z) + logsumexp(hyp.log_post)
    return Hypotheses(log_post=z, log_none=hyp.log_none, findings=hyp.findings, temperature=hyp.temperature)


def finding_weights(p0) -> np.ndarray:
    """Each finding's count for the tempering: how much it could tell a rare disease from ordinary
    people, ``min(1, -log10 p0 / INFORMATIVE_DIGITS)`` (between ``ORDINARY_DIGITS`` and it)."""
    digits = -np.log10(np.maximum(np.asarray(p0, dtype=float), 1e-12))
    if INFORMATIVE_DIGITS <= ORDINARY_DIGITS:
        return np.ones_like(digits)
    return np.clip((digits - ORDINARY_DIGITS) / (INFORMATIVE_DIGITS - ORDINARY_DIGITS), 0.0, 1.0)


def disease_temperatures(log_lrs: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Per disease, the tempering exponent for the findings that speak for it (``log_lrs``: findings x
    diseases, natural log LR against "no rare disease"; ``weights``: :func:`finding_weights`).

    Tempering corrects for correlated evidence; a finding that says nothing about a disease (log LR
    near 0) adds no correlated evidence to it. A finding counts for a disease by
    ``min(1, log LR / SPEAKS)``, plus ``SHARED`` of every finding (the record's findings are not
    independent of each other either). Used to share P(rare) among the diseases
    (:func:`reweigh`), never for P(rare) itself.
    """
    speaks = np.maximum(log_lrs, 0.0)
    speaks /= SPEAKS  # in place, the same numbers: half the time of three temporaries of findings x diseases
    np.minimum(speaks, 1.0, out=speaks)
    n = weights @ speaks + SHARED * weights.sum()
    return TEMPERATURE * (np.maximum(n, 1.0) / REFERENCE_FINDINGS) ** (EVIDENCE_EXPONENT - 1.0)


def temperature(findings: float) -> float:
    """The likelihood's exponent for a record with this many findings (see the module docstring)."""
    return TEMPERATURE * (max(findings, 1.0) / REFERENCE_FINDINGS) ** (EVIDENCE_EXPONENT - 1.0)


def explained_frequency(p0: float, pairs_q: dict[int, int], documented: list[int], counts: np.ndarray) -> float:
    """p0(q) raised to the highest ``P(q | documented condition c)`` seen in ordinary records.

    ``(n(q and c) + EXPLAIN_WEIGHT * p0(q)) / (n(c) + EXPLAIN_WEIGHT)``: a condition never seen with
    ``q`` pulls the estimate down toward 0 but it never goes below plain ``p0(q)``.
    """
    best = p0
    for c in documented:
        n_c = counts[c]
        if n_c > 0:
            best = max(best, (pairs_q.get(c, 0) + EXPLAIN_WEIGHT * p0) / (n_c + EXPLAIN_WEIGHT))
    return best
