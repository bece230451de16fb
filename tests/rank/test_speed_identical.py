"""The ranker's faster steps (issue 23) give the very numbers of the steps they replaced."""
from __future__ import annotations

import numpy as np
import pytest
from scipy.special import logsumexp as scipy_logsumexp

from app.pipeline import load_knowledge
from app.rank import ancestors, posterior


def arrays():
    rng = np.random.default_rng(23)
    for n in (1, 2, 3, 50, 10_000):
        for k in range(60):
            a = rng.normal(0, [0.1, 1, 10, 300][k % 4], n)
            if k % 3 == 0:
                a[rng.integers(0, n, max(1, n // 10))] = a.max()  # tied maxima
            if k % 5 == 0:
                a[rng.integers(0, n, max(1, n // 3))] = -np.inf
            yield a
    yield np.array([-np.inf, -np.inf])
    yield np.array([np.inf, 1.0])
    yield np.array([np.nan, 1.0])


def test_logsumexp_is_scipys_to_the_last_bit():
    for a in arrays():
        ours, theirs = posterior.logsumexp(a), scipy_logsumexp(a)
        assert type(ours) is type(theirs)
        assert ours == theirs or (np.isnan(ours) and np.isnan(theirs)), a[:5]


@pytest.mark.parametrize("k", [1, 3, 10, 25, 10_000])
def test_best_first_is_the_prefix_of_the_full_order(k):
    rng = np.random.default_rng(k)
    for _ in range(50):
        v = np.round(rng.normal(0, 3, 500), 1)  # many ties
        v[rng.integers(0, 500, 20)] = -np.inf
        full = np.lexsort((np.arange(len(v)), -v))
        got = posterior.best_first(v, k)
        assert len(got) >= min(k, len(v)) and np.array_equal(got, full[:len(got)])


def test_shared_ic_is_the_highest_ic_of_a_shared_ancestor():
    ranker = load_knowledge().ranker
    assert not np.signbit(ranker._ic).any()  # what lets ancestors.shared_ic take the maximum at once
    rng = np.random.default_rng(5)
    for q in rng.integers(0, len(ranker._ic), 40):
        shared = ranker._ancestors(int(q))
        slow = np.zeros(len(ranker._ic))
        for a in shared[np.argsort(ranker._ic[shared], kind="stable")]:  # the loop it replaced
            slow[ranker._descendants(a)] = ranker._ic[a]
        assert np.array_equal(ancestors.shared_ic(ranker._desc, ranker._ic, shared), slow)


def test_the_diseases_a_documented_diagnosis_names_are_those_a_scan_finds():
    from app.rank import entities

    found = load_knowledge().ranker._entities
    index = entities.named_index(found)
    rng = np.random.default_rng(7)
    some = [found[int(i)] for i in rng.integers(0, len(found), 30)]
    for e in some:
        orphas = set(list(e.related_orpha)[:1]) | {"999999"}
        omims = set(e.omim[:1]) | {"OMIM:000000"}
        scan = [i for i, d in enumerate(found) if d.related_orpha & orphas or omims.intersection(d.omim)]
        assert entities.named(index, orphas, omims) == scan and (scan or not (e.related_orpha or e.omim))


def test_the_score_caches_drop_the_least_recently_used_vector():
    import threading
    from types import SimpleNamespace

    from app.rank.ranker import Ranker

    owner = SimpleNamespace(_score_lock=threading.Lock(), _lr_cache={})
    cache: dict = {}  # not the LR cache: 128 vectors
    made: list[int] = []

    def make(q):
        made.append(q)
        return np.full(3, float(q))

    for q in range(128):
        Ranker._cached(owner, cache, q, make)
    assert Ranker._cached(owner, cache, 0, make)[0] == 0.0  # a hit: 0 is now the most recent
    Ranker._cached(owner, cache, 128, make)  # full: the least recently used, 1, makes room
    assert 0 in cache and 1 not in cache and len(cache) == 128
    Ranker._cached(owner, cache, 1, make)
    assert made == [*range(129), 1] and 2 not in cache
    assert not cache[0].flags.writeable


def test_disease_temperatures_are_the_formulas_numbers():
    rng = np.random.default_rng(7)
    for k in (1, 2, 5, 12, 40):
        log_lrs = rng.normal(0, 2, (k, 500))
        log_lrs[:, ::7] = -np.inf
        weights = rng.random(k)
        speaks = np.minimum(1.0, np.maximum(log_lrs, 0.0) / posterior.SPEAKS)  # as written before issue 23
        n = weights @ speaks + posterior.SHARED * weights.sum()
        want = posterior.TEMPERATURE * (np.maximum(n, 1.0) / posterior.REFERENCE_FINDINGS) ** (
            posterior.EVIDENCE_EXPONENT - 1.0)
        assert np.array_equal(posterior.disease_temperatures(log_lrs, weights), want)
