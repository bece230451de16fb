"""The fast FHIR R4 check (``app.fetch.valid``) vouches only for what the fhirclient models accept.

Real resources (the development records of ``tests/fixtures``) are all vouched for, so they never
pay for a model; thousands of mutations of them (wrong types, lists where one value belongs and the
reverse, unknown elements, nulls, primitive extensions, impossible dates, required elements
removed, deep nesting) get the verdict of the model itself, whichever path gives it.
"""
from __future__ import annotations

import copy
import gzip
import json
import random
from pathlib import Path

import pytest

from app.fetch import build
from app.fetch.valid import valid

RECORDS = Path(__file__).resolve().parents[1] / "fixtures" / "development-records.ndjson.gz"


def resources() -> list[dict]:
    with gzip.open(RECORDS, "rt") as fh:
        bundles = [json.loads(line) for line in fh if line.strip()]
    return [e["resource"] for b in bundles for e in b["entry"] if e["resource"]["resourceType"] in build.MODELS]


def model_accepts(res: dict) -> bool:
    try:
        build.MODELS[res["resourceType"]](res, strict=True)
        return True
    except Exception:  # noqa: BLE001 - any failure of the model is a rejection, as build.invalid_reason counts it
        return False


def paths(node, here=()):
    """Every (path, value) under ``node``."""
    yield here, node
    if isinstance(node, dict):
        for k, v in node.items():
            yield from paths(v, (*here, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from paths(v, (*here, i))


REPLACEMENTS = ["x", "", 3, 2.5, True, None, [], ["x"], [3], {}, {"x": 1}, [{}], "2020-02-30", "2020-13-01",
                "2021-03-04T10:00:00Z", "2021-03-04T25:00:00Z", "2021", {"url": "u"}, [None]]


def mutate(res: dict, rng: random.Random) -> dict:
    out = copy.deepcopy(res)
    path, _ = rng.choice([p for p in list(paths(out))[1:] if p[0] != ("resourceType",)])
    parent = out
    for step in path[:-1]:
        parent = parent[step]
    last = path[-1]
    how = rng.randrange(6)
    if how == 0 and isinstance(parent, dict):
        del parent[last]
    elif how == 1 and isinstance(parent, dict):
        parent[rng.choice(["Jane Doe", "_" + str(last), "value", "resourceType", "extension"])] = \
            rng.choice(REPLACEMENTS)
    elif how == 2:
        parent[last] = [parent[last]]
    elif how == 3 and isinstance(parent[last], list) and parent[last]:
        parent[last] = parent[last][0]
    else:
        parent[last] = copy.deepcopy(rng.choice(REPLACEMENTS))
    out["resourceType"] = res["resourceType"]  # the type names the model: it is what is checked against
    return out


def test_every_development_resource_is_vouched_for_as_the_model_accepts_it():
    found = resources()
    assert len(found) > 2000
    assert all(model_accepts(r) for r in found[::50])
    assert all(valid(r, build.MODELS[r["resourceType"]]) for r in found)


def test_a_vouched_resource_is_one_the_model_accepts_and_the_verdict_is_the_models():
    rng = random.Random(23)
    sample = rng.sample(resources(), 400)
    vouched = rejected = 0
    for res in sample:
        for _ in range(15):
            bad = mutate(res, rng)
            accepted = model_accepts(bad)
            if valid(bad, build.MODELS[bad["resourceType"]]):
                vouched += 1
                assert accepted, json.dumps(bad)[:400]
            rejected += not accepted
            assert (build.invalid_reason(bad) is None) == accepted
    assert vouched > 1000 and rejected > 1000  # both kinds of mutation were met


@pytest.mark.parametrize("depth", [30, 41, 500])
def test_nesting_beyond_what_the_walk_follows_goes_to_the_model(depth):
    ext = {"url": "u", "valueString": "x"}
    for _ in range(depth):
        ext = {"url": "u", "extension": [ext]}
    condition = {"resourceType": "Condition", "id": "c", "subject": {"reference": "Patient/p"}, "extension": [ext]}
    assert valid(condition, build.MODELS["Condition"]) == (depth < 40)
    assert (build.invalid_reason(condition) is None) == model_accepts(condition)
