"""``radar learn-background``: the site's own general-population background, learned from its Bulk export.

P(rare) sets each finding against how often ordinary people's records show it. A hospital's
records (its coding habits, its note templates, its lab panels) are the best judge of that, so a
site can learn the frequencies from its own population instead of the shipped background.

The inputs are the screen's (Bulk export directories, NDJSON of resources or of Bundles, or a live
``--ehr --group`` export through the same export code) and so is the first half of the Spark plan
(``spark.patients``: resources grouped by patient, Binaries joined to their notes). Every patient
goes through the one builder (``worklist.record_of``) and the extraction; each record counts its
weighed findings (``Profile.weighed``: present, acute lab derangements left out) and all their HPO
ancestors (``background.closure``). Every task adds its patients into one Counter; Spark adds
the Counters by term (``reduceByKey``), and only terms that reach ``min_count`` come back to the
driver. No record, patient id or name leaves an executor.

Pairs: how many records have both a finding ``q`` and a term ``c``, for the ``c`` that are a
documented condition (a problem-list finding or its ancestor) in at least ``min_count`` records and
``q`` neither an ancestor nor a descendant of ``c``: the only pairs the ranker reads (a finding a
documented common condition explains weighs less, by ``n(q and c) / n(c)``, both over all records).
A second pass over the persisted per-record term sets, not a second extraction.
"""
from __future__ import annotations

import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from operator import add
from pathlib import Path

from ..rank import background as bg
from . import sources

DEFAULT_NAME = "site population"


class LearnError(Exception):
    """A background that cannot be learned or written; the message is safe to print."""


@dataclass
class Learned:
    """What the Spark job counted: records, term counts and pair counts at or above ``min_count``, bad input."""

    records: int
    counts: dict[str, int]
    pairs: dict[str, dict[str, int]]
    bad_input: dict[str, int] = field(default_factory=dict)


@dataclass
class LearnOptions:
    """What ``radar learn-background`` was asked to do."""

    out: Path
    name: str = DEFAULT_NAME
    min_count: int = bg.MIN_COUNT
    min_records: int = bg.MIN_RECORDS
    master: str | None = None
    partitions: int | None = None
    iss: str | None = None
    group: str | None = None
    inputs: list[str] = field(default_factory=list)


def learn(spark, files: list[str], *, min_count: int = bg.MIN_COUNT, partitions: int | None = None) -> Learned:
    """Count every patient of ``files`` on Spark (see the module docstring)."""
    from . import spark as plan

    with plan.pyspark_sockets():
        return _learn(spark, files, min_count, partitions)


def _learn(spark, files: list[str], k: int, partitions: int | None) -> Learned:
    from pyspark import StorageLevel

    from . import spark as plan

    sc = spark.sparkContext
    grouped, _ = plan.patients(spark, files, partitions)
    # Per record: ("rec", its terms, its documented-condition terms) — sorted tuples, no id.
    closures = grouped.mapPartitions(_closures).persist(StorageLevel.MEMORY_AND_DISK)
    records = closures.filter(lambda r: r[0] == "rec")
    n = records.count()
    tallies = dict(records.mapPartitions(_term_counts).reduceByKey(add).filter(lambda kv: kv[1] >= k).collect())
    counts = {term: c for (kind, term), c in tallies.items() if kind == "t"}
    explainers = sc.broadcast(frozenset(term for (kind, term), _ in tallies.items() if kind == "d"))
    pairs: dict[str, dict[str, int]] = {}
    kept = records.mapPartitions(lambda part: _pair_counts(part, explainers.value)).reduceByKey(add) \
        .filter(lambda kv: kv[1] >= k).collect()
    for (a, b), c in sorted(kept):
        pairs.setdefault(a, {})[b] = c
    inputs, _ = plan.input_counts(closures.filter(lambda r: r[0] == "input").map(lambda r: r[1:]).collect())
    bad = {what: c for (kind, what), c in inputs.items() if kind == "bad"}
    for kind, c in closures.filter(lambda r: r[0] == "bad").map(lambda r: (r[1], 1)).reduceByKey(add).collect():
        bad[kind] = bad.get(kind, 0) + c
    closures.unpersist()
    explainers.unpersist()
    return Learned(records=n, counts=counts, pairs=pairs, bad_input=bad)


def _closures(part) -> Iterator[tuple]:
    """One task: each patient's record → its weighed findings closed upward, and those of its documented conditions."""
    from ..phenotype import extract
    from . import worklist
    from .spark import UNBOUND, tally_rows

    kb, ont = _extraction()
    for patient_id, group in part:
        tally, resources = tally_rows(patient_id, list(group))
        if tally:
            yield ("input", patient_id, tally)
            if not resources:
                continue
        if patient_id == UNBOUND:
            yield ("bad", sources.UNBOUND_BINARY)
            continue
        if not any(kind == "Patient" for _, kind, _ in resources):
            yield ("bad", sources.NO_PATIENT_RESOURCE)
            continue
        weighed = extract(worklist.record_of(patient_id, resources), kb).weighed
        seen = bg.closure(ont, [p.hpo for p in weighed])
        documented = bg.closure(ont, [p.hpo for p in weighed if p.origin == "condition"])
        yield ("rec", tuple(sorted(seen)), tuple(sorted(documented)))


def _term_counts(part) -> Iterator[tuple]:
    """One Counter per task: records per term (``("t", id)``) and per documented-condition term (``("d", id)``)."""
    counter: Counter = Counter()
    for _, seen, documented in part:
        counter.update(("t", t) for t in seen)
        counter.update(("d", t) for t in documented)
    return iter(counter.items())


def _pair_counts(part, explainers: frozenset) -> Iterator[tuple]:
    """One Counter per task: records per unordered pair (finding, term documented as a condition somewhere),
    unrelated terms only."""
    _, ont = _extraction()
    counter: Counter = Counter()
    for _, seen, _ in part:
        pairs = set()
        for c in explainers.intersection(seen):
            for q in seen:
                if q != c and q not in _ancestors(ont, c) and c not in _ancestors(ont, q):
                    pairs.add((c, q) if c < q else (q, c))
        counter.update(pairs)
    return iter(counter.items())


@lru_cache(maxsize=50_000)
def _ancestors(ont, term: str) -> frozenset:
    return frozenset(bg.closure(ont, [term]) - {term})


def _extraction():
    """The compiled knowledge and the ontology, once per executor process (no ranker: nothing is ranked here)."""
    from ..knowledge import load_compiled
    from ..knowledge.ontology import ontology

    return load_compiled(), ontology()


def learn_files(options: LearnOptions, *, log=None, export: dict | None = None) -> dict:
    """Learn from ``options.inputs`` and write ``options.out`` (atomically); the summary. Nothing is
    written when the job fails or the population is smaller than ``options.min_records``. ``export`` is
    what a live export said about itself (``run.export_summary``): its problems are counted in the summary."""
    from . import spark as plan
    from .report import export_problems

    log = log or sys.stderr
    try:
        files, unreadable = sources.readable(sources.expand(options.inputs))
    except sources.InputError as exc:
        raise LearnError(str(exc)) from None
    if not files:
        raise LearnError(f"no input file could be read ({'; '.join(unreadable[:3])})")
    started = time.monotonic()
    session = plan.session(options.master)
    try:
        learned = learn(session, files, min_count=options.min_count, partitions=options.partitions)
    except Exception as exc:  # a Spark job failure arrives as a Py4J error carrying a Java stack
        raise LearnError(f"the Spark job failed ({_first_line(exc)}); {options.out} was not changed") from None
    if learned.records < options.min_records:
        raise LearnError(f"{learned.records:,} records: too few to learn a background from (at least "
                         f"{options.min_records:,}; --min-records lowers it); {options.out} was not changed")
    source = {"inputs": len(files), "ehr": options.iss, "group": options.group}
    data = bg.site(learned.counts, learned.pairs, learned.records, name=options.name,
                   min_count=options.min_count, source=source)
    bg.write(options.out, data)
    if unreadable:
        learned.bad_input[sources.UNREADABLE_FILE] = len(unreadable)
    summary = {"records": learned.records, "terms": len(data["counts"]), "pairs": sum(map(len, data["pairs"].values())),
               "bad_input": learned.bad_input, "seconds": round(time.monotonic() - started, 1),
               "background": bg.describe(data), "out": str(options.out)}
    if export is not None:
        summary["export"] = export
    bad = ", ".join(f"{n:,} {kind}" for kind, n in sorted(summary["bad_input"].items())) or "none"
    problems = export_problems(export)
    log.write(f"radar learn-background: {summary['background']} from {learned.records:,} records in "
              f"{summary['seconds'] / 60:.1f} min; {summary['terms']:,} terms and {summary['pairs']:,} pairs seen "
              f"in at least {options.min_count} records kept; bad input: {bad}; "
              f"{'EHR export: ' + problems + '; ' if problems else ''}wrote {options.out}\n")
    return summary


def _first_line(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:300]


def learn_command(args, settings, *, log=None) -> int:
    """Run ``radar learn-background``; 2 for a usage mistake, 1 when nothing was learned, 0 when the file was written."""
    from .command import MASTER, clients, os_user, registered_ehr
    from .handoff import audit_screen
    from .run import Options, ScreenError, export_group, export_summary

    log = log or sys.stderr
    master = args.master or settings.screen.spark_master
    problem = _problem(args) or (master and not MASTER.match(master) and
                                 f"{master!r} is not a Spark master URL (local[*], spark://host:port, k8s://…)")
    if problem:
        log.write(f"radar learn-background: {problem}\n")
        return 2
    options = LearnOptions(out=Path(args.out), name=args.name.strip(), min_count=args.min_count,
                           min_records=args.min_records, master=master, partitions=args.partitions,
                           group=args.group, inputs=list(args.inputs))
    store = http = None
    try:
        if args.ehr:
            ehr = registered_ehr(settings, args.ehr)
            store, http = clients(settings)
            export = Options(out=options.out, group=args.group, since=args.since,
                             workdir=Path(args.workdir) if args.workdir else None)
            exported, since = export_group(export, ehr, settings.keys, store, http, log=log,
                                               limits=settings.bulk)
            options.inputs, options.iss = export.inputs, ehr.iss
            summary = learn_files(options, log=log, export=export_summary(exported, since))
            audit_screen(store, actor=args.actor or os_user(), iss=ehr.iss, group=args.group,
                         patients=summary["records"], flagged=0, since=args.since)
        else:
            learn_files(options, log=log)
    except (LearnError, ScreenError) as exc:
        log.write(f"radar learn-background: {exc}\n")
        return 1
    finally:
        if http is not None:
            http.close()
        if store is not None:
            store.close()
    return 0


def _problem(args) -> str | None:
    from .command import source_problem

    problem = source_problem(args)
    if problem:
        return problem
    if not 1 <= args.min_count <= 1000:
        return "--min-count must be between 1 and 1000"
    if not 1 <= args.min_records <= 10_000_000:
        return "--min-records must be at least 1"
    if not args.name.strip() or len(args.name) > 80 or not args.name.isprintable():
        return "--name must be 1 to 80 printable characters"
    if Path(args.out).is_dir():
        return f"--out {args.out} is a directory; name the background file (e.g. background.json.gz)"
    return None
