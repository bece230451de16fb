"""The screen as a Spark job: NDJSON files → patients → worklist lines, on any Spark master.

``local[*]`` (every core of this machine) is the embedded default; ``--master`` or
``RADAR_SPARK_MASTER`` runs the same job on a standalone cluster, Kubernetes or a managed
service. Executors need this package and its knowledge installed (the same image or venv as the
app): the knowledge is loaded once per executor Python process (Spark reuses its Python workers)
and then serves every patient of every task that process runs.

Plan: read the lines with the file they came from → ``sources.keyed``, bad and skipped input counted
per input partition → rows in the JVM, where Binaries are joined to the patients whose notes point
at them and rows grouped by patient (each partition's counts as one more group) →
``worklist.screen`` per patient in ``mapPartitions`` → persisted results, counted, then streamed to
the driver in worklist order (``toLocalIterator``: one partition in memory at a time, never the
whole population). The input is read once and never kept.
"""
from __future__ import annotations

import importlib.util
import os
import resource
import sys
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from ..config import CdsThresholds, background_setting
from . import jvm, sources, worklist

APP_NAME = "radar-screen"
JOB_GROUP = "radar-screen"
BACKGROUND_ENV = "RADAR_BACKGROUND"  # set in each executor process to the background the driver names
DRIVERS = "driver's"  # screen(background=…): the driver's RADAR_BACKGROUND
_LOADS: dict = {"count": 0, "background": DRIVERS}  # DRIVERS: no knowledge loaded in this process yet
PER_CORE = 4  # patient partitions per core at least: one slow partition does not leave the other cores idle
# Input per partition at most: 64 MiB is about 330 patients of the development population (195 KB of
# NDJSON each), a task of some 10 s on one core; a million patients make 3,000 such tasks.
PARTITION_BYTES = 64 * 1024 * 1024


@dataclass
class Result:
    """What a screen produced: counts, bad input and per-executor-process statistics; ``lines()``
    streams the worklist in order."""

    patients: int
    flagged: int
    warning: int
    bad_input: dict[str, int]
    bad_examples: list[str]
    skipped: dict[str, int]
    processes: list[dict] = field(default_factory=list)  # {pid, loads, patients, max_rss_mb}
    lines: Callable[[], Iterator[dict]] = lambda: iter(())
    grouped: object = None  # the (patient, resources) RDD, for the hand-off's records


def unavailable() -> str | None:
    """Why the Spark job cannot run in this installation (PySpark is an optional extra), or None."""
    if importlib.util.find_spec("pyspark") is None or importlib.util.find_spec("py4j") is None:
        return ("PySpark is not installed here: install the screen extra (pip install 'radar-in-the-chart[screen]', "
                "and a Java 17 runtime) or use the screen image (launch/Containerfile, --target screen)")
    return None


def session(master: str | None = None, *, config: dict | None = None):
    """A SparkSession on ``master`` (default ``local[*]``); an active one on another master is stopped first.
    A local master's JVM gets the parallel garbage collector unless the deployment chose one (``jvm``)."""
    from pyspark import SparkContext
    from pyspark.sql import SparkSession

    master = master or "local[*]"
    # Executors' Python is this interpreter (the app's venv) unless the deployment says otherwise;
    # the builder's spark.pyspark.python alone does not reach local-mode workers.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    active = SparkContext._active_spark_context
    if active is not None and active.master != master:
        SparkSession.builder.getOrCreate().stop()
    builder = (SparkSession.builder.master(master).appName(APP_NAME)
               .config("spark.ui.enabled", "false")
               .config("spark.ui.showConsoleProgress", "false")
               .config("spark.pyspark.python", sys.executable)
               .config("spark.pyspark.driver.python", sys.executable)
               .config("spark.python.worker.reuse", "true")
               .config("spark.sql.session.timeZone", "UTC"))
    if master.startswith("local"):
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")  # no "hostname resolves to a loopback address" warning
        builder = builder.config("spark.driver.host", "127.0.0.1").config("spark.driver.bindAddress", "127.0.0.1")
    config = {**jvm.options(master, config or {}, os.environ), **(config or {})}
    for key, value in config.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def screen(spark, files: list[str], *, thresholds: CdsThresholds | None = None, top: int = 10,
           partitions: int | None = None, progress=None, background: str | None = DRIVERS) -> Result:
    """Screen every patient in ``files`` (see the module docstring); ``progress`` is a
    ``progress.Bar``-like object polled while the screening stage runs. ``background``: the path of
    the site background the executors judge against (None: the shipped one); by default the
    driver's ``RADAR_BACKGROUND``, so that executors and driver always use the same."""
    if background == DRIVERS:
        site = background_setting()
        background = str(site.path) if site else None
    with pyspark_sockets():
        return _screen(spark, files, thresholds or CdsThresholds(), top, partitions, progress, background)


def patients(spark, files: list[str], partitions: int | None = None) -> tuple:
    """The plan's first half, shared by the screen and ``radar learn-background``: (the RDD of
    (patient id, resource items) ready for ``worklist.record_of``, partitions). Besides the
    patients, one group per input partition keyed ``TALLY`` and the partition's number holds what
    its lines held that is no patient's: bad and skipped input, counted (``input_counts``)."""
    from pyspark.sql.functions import input_file_name

    sc = spark.sparkContext
    rows = spark.read.text(files).select("value", input_file_name().alias("file")).rdd
    items = rows.mapPartitionsWithIndex(_keyed_partition)
    n = partitions or partition_count(sc.defaultParallelism, files)
    return _grouped(_rows(spark, items), n), n


TALLY = "\x00input "  # the patient key of an input partition's count of bad and skipped lines (and its number)
EXAMPLES = 10  # bad-input examples kept per partition, and in the screen's summary


def _keyed_partition(index: int, rows) -> Iterator[tuple]:
    """The items of one input partition's lines (``sources.keyed``): resources, Binaries and their
    references as they come; bad and skipped input counted, and at the end one ``("tally", key,
    (kind, what, count))`` per kind of it and ``("tally", key, ("example", "", text))`` per example.

    Counted where the lines are read, the input is not kept for a second pass (issue 23: the
    persisted items, every line's text, were read back in Python for these counts alone)."""
    counts: dict[tuple[str, str], int] = {}
    examples: list[str] = []
    for value, path in rows:
        for item in sources.keyed(value, os.path.basename(path)):
            if item[0] in ("bad", "skip"):
                counts[item[:2]] = counts.get(item[:2], 0) + 1
                if item[0] == "bad" and len(examples) < EXAMPLES:
                    examples.append(item[2])
            else:
                yield item
    key = f"{TALLY}{index:09d}"
    yield from (("tally", key, (kind, what, str(n))) for (kind, what), n in counts.items())
    yield from (("tally", key, ("example", "", example)) for example in examples)


def tally_rows(patient_id: str, resources: list[tuple]) -> tuple[list[tuple], list[tuple]]:
    """(the tally rows, the resources) of a group: a ``TALLY`` group's rows are counts and examples
    (a resource's order always holds a NUL, so a Patient whose id looks like the key stays a patient)."""
    if not patient_id.startswith(TALLY):
        return [], resources
    tally = [r for r in resources if r[0] in _TALLY_KINDS]
    return tally, [r for r in resources if r[0] not in _TALLY_KINDS]


_TALLY_KINDS = frozenset({"bad", "skip", "example"})


def input_counts(groups: list[tuple[str, list]]) -> tuple[dict[tuple[str, str], int], list[str]]:
    """((kind, what) → how many, bad-input examples in input order) of the ``TALLY`` groups."""
    counts: dict[tuple[str, str], int] = {}
    examples: list[str] = []
    for _, rows in sorted(groups):
        for kind, what, value in rows:
            if kind == "example":
                examples.append(value)
            else:
                counts[(kind, what)] = counts.get((kind, what), 0) + int(value)
    return counts, examples


FLAT = "kind string, key string, order string, type string, text string"  # an input item (sources.keyed) as a row


def _flat(item: tuple) -> tuple:
    """An input item as a row of ``FLAT``: a resource's (order, type, json) or a tally's three values
    in its columns, anything else's value in text."""
    if item[0] in ("res", "tally"):
        return (item[0], item[1], *item[2])
    return (item[0], item[1], None, "Binary" if item[0] == "bin" else None, item[2])


def _rows(spark, items):
    """The DataFrame of ``FLAT`` rows of an RDD of input items."""
    return spark.createDataFrame(items.map(_flat), FLAT, verifySchema=False)


def _grouped(flat, n: int):
    """(patient id, [(order, type, json) …]) of every patient, Binaries with the patients whose notes point at them.

    The rows leave Python once and the join and grouping run in the JVM (issue 23: two Python
    shuffles, each pickling, unpickling and grouping every resource in Python, were most of what the
    screen added to the pipeline's own cost). Binaries name no patient: a window over the Binary id
    gives each the patients of the references to it (a Binary no note points at goes to
    ``UNBOUND``), then rows are grouped by patient, a patient's resources as one row of arrays, so
    a Python worker holds one patient at a time."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    flat = flat.filter(F.col("kind").isin("res", "bin", "ref", "tally"))
    res, ref = F.col("kind").isin("res", "tally"), F.col("kind") == "ref"
    joined = flat.withColumn("jk", F.when(res, F.concat(F.lit("p"), "key")).otherwise(F.concat(F.lit("b"), "key")))
    owners = F.array_sort(F.collect_set(F.when(ref, F.col("text"))).over(Window.partitionBy("jk")))
    joined = joined.withColumn("owners", F.when(F.col("kind") == "bin", owners)).filter(~ref)
    patient = F.explode(F.when(res, F.array("key")).when(F.size("owners") > 0, F.col("owners"))
                        .otherwise(F.array(F.lit(UNBOUND))))
    rows = joined.select(patient.alias("patient"), F.when(res, F.col("order")).otherwise(F.lit("~")).alias("order"),
                         "type", "text")
    by_patient = rows.repartition(n, "patient").groupBy("patient") \
        .agg(F.collect_list(F.array("order", "type", "text")).alias("items"))
    return by_patient.rdd.map(lambda r: (r[0], [tuple(x) for x in r[1]]))


def partition_count(cores: int, files: list[str]) -> int:
    """Patient partitions for ``cores`` (the cluster's task slots, ``defaultParallelism``) and the input:
    ``PER_CORE`` per core, so that every core stays busy to the end, and more when the input is large,
    one per ``PARTITION_BYTES`` of it (local files; other URLs count as nothing), so that a task's
    patients stay a few hundred however large the population."""
    size = sum(os.path.getsize(f) for f in files if os.path.isfile(f))
    return max(2, PER_CORE * cores, -(-size // PARTITION_BYTES))


def _screen(spark, files, thresholds: CdsThresholds, top: int, partitions: int | None, progress,
            background: str | None) -> Result:
    from pyspark import StorageLevel

    sc = spark.sparkContext
    limits = thresholds.min_probability, thresholds.warning_probability
    grouped, n = patients(spark, files, partitions)
    screened = grouped.mapPartitions(lambda part: _screen_partition(part, limits, top, background)) \
        .persist(StorageLevel.MEMORY_AND_DISK)
    sc.setJobGroup(JOB_GROUP, "screen patients")
    patients_done = sc.accumulator(0)
    try:
        if progress is not None:
            progress.start(sc, JOB_GROUP, patients_done)
        # One pass over the screened partitions and one over the input for every count, example and
        # statistic (issue 23: each further action re-read a persisted RDD; six passes were a quarter
        # of a 588-patient screen).
        counts, screened_examples, processes, inputs = _merged(
            screened.mapPartitions(lambda part: [_screen_tally(part, patients_done)]).collect())
    finally:
        if progress is not None:
            progress.stop()
    tallies, examples = input_counts(inputs)
    bad = {what: n for (kind, what), n in tallies.items() if kind == "bad"}
    skipped = {what: n for (kind, what), n in tallies.items() if kind == "skip"}
    examples = examples[:EXAMPLES]
    for key, value in counts.items():
        if key.startswith("bad:"):
            bad[key[4:]] = bad.get(key[4:], 0) + value
    examples += screened_examples[:EXAMPLES]
    ordered = screened.filter(lambda i: i[0] == "line").map(lambda i: i[1]).sortBy(worklist.sort_key, numPartitions=n)
    return Result(patients=sum(v for k, v in counts.items() if k.split(":")[0] == "line"),
                  flagged=counts.get("line:info", 0) + counts.get("line:warning", 0),
                  warning=counts.get("line:warning", 0), bad_input=bad, bad_examples=examples[:EXAMPLES], skipped=skipped,
                  processes=_merge(processes), lines=lambda: _streamed(ordered), grouped=grouped)


def resources_of(result: Result, patients: list[str]) -> dict[str, list]:
    """The grouped resource items of ``patients`` from a screen's input, on the driver (a handful: the hand-off's)."""
    wanted = set(patients)
    with pyspark_sockets():
        return dict(result.grouped.filter(lambda kv: kv[0] in wanted).mapValues(list).collect())


def _streamed(rdd) -> Iterator[dict]:
    """The RDD's items on the driver one partition at a time."""
    with pyspark_sockets():
        yield from rdd.toLocalIterator()


@contextmanager
def pyspark_sockets():
    """Around PySpark actions: silence the ResourceWarning of the sockets PySpark leaves open."""
    # PySpark 3.5 drops the local socket of every collect()/take()/toLocalIterator() without
    # closing it (py4j's _load_from_socket closes only the file wrapped around it), so CPython
    # warns "unclosed socket" inside PySpark's own frames. Those sockets are drained and gone;
    # the warning says nothing about this code, so it is silenced around PySpark actions only.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        yield


UNBOUND = "\x00unbound"  # the patient key of Binaries no note points at (reported as bad input)


def _screen_tally(part, done) -> dict:
    """One partition of screened items: how many of each ``_count_key``, its first ``EXAMPLES`` bad examples, its
    process statistics; ``done`` (an accumulator) counts the patients as they pass, for the progress bar."""
    counts: dict[str, int] = {}
    examples, stats, inputs = [], [], []
    for item in part:
        if item[0] == "input":
            inputs.append(item[1:])
            continue
        key = _count_key(item)
        counts[key] = counts.get(key, 0) + 1
        if item[0] == "line":
            done.add(1)
        elif item[0] == "bad" and len(examples) < EXAMPLES:
            examples.append(item[2])
        elif item[0] == "stats":
            stats.append(item[1])
    return {"counts": counts, "examples": examples, "stats": stats, "inputs": inputs}


def _merged(tallies: list[dict]) -> tuple[dict, list, list, list]:
    """(counts summed, examples and statistics in partition order, the input's ``TALLY`` groups) of
    per-partition tallies."""
    counts: dict = {}
    for tally in tallies:
        for key, n in tally["counts"].items():
            counts[key] = counts.get(key, 0) + n
    return counts, [e for t in tallies for e in t["examples"]], [s for t in tallies for s in t["stats"]], \
        [i for t in tallies for i in t["inputs"]]


def _count_key(item: tuple) -> str:
    if item[0] == "line":
        return f"line:{item[1]['signal']}" if item[1]["signal"] else "line"
    return f"bad:{item[1]}" if item[0] == "bad" else item[0]


def _screen_partition(part, limits: tuple[float, float], top: int, background: str | None = None) -> Iterator[tuple]:
    """One task: every patient of the partition through the one pipeline (knowledge loaded once per process)."""
    kb = _knowledge(background)
    thresholds = CdsThresholds(min_probability=limits[0], warning_probability=limits[1])
    done = 0
    for patient_id, group in part:
        tally, resources = tally_rows(patient_id, list(group))
        if tally:
            yield ("input", patient_id, tally)
            if not resources:
                continue
        if patient_id == UNBOUND:
            for _ in resources:
                yield ("bad", sources.UNBOUND_BINARY, "a Binary no note of the input points at")
            continue
        if not any(kind == "Patient" for _, kind, _ in resources):
            yield ("bad", sources.NO_PATIENT_RESOURCE, f"patient {patient_id}: {len(resources)} resource(s)")
            continue
        result = worklist.screen(patient_id, resources, kb, thresholds, top=top)
        for why in result.unreadable_notes:
            yield ("bad", sources.UNREADABLE_ATTACHMENT, f"patient {patient_id}: {why}"[:sources.EXAMPLE_CHARS])
        for kind, whys in result.left_out.items():  # one item per resource: the summary counts resources
            for why, n in whys.items():
                yield from [("bad", kind, f"patient {patient_id}: {why}"[:sources.EXAMPLE_CHARS])] * n
        done += 1
        yield ("line", result.line)
    line_count = {"pid": os.getpid(), "loads": _LOADS["count"], "patients": done,
                  "max_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
                  "background": kb.ranker.background_name}
    yield ("stats", line_count)


def _knowledge(background: str | None = None):
    """The executor process's knowledge, judged against ``background`` (a path; None: the shipped one).

    Python workers outlive jobs: one that loaded another background for an earlier job loads again."""
    from ..pipeline import load_knowledge, warm_up_for_batch

    if _LOADS["background"] != background:
        if background:
            os.environ[BACKGROUND_ENV] = background
        else:
            os.environ.pop(BACKGROUND_ENV, None)
        load_knowledge.cache_clear()
        _LOADS["background"] = background
    if load_knowledge.cache_info().currsize == 0:
        _LOADS["count"] += 1
        warm_up_for_batch(load_knowledge())
    return load_knowledge()


def _merge(stats: list[dict]) -> list[dict]:
    """Per-process statistics from per-task ones: patients summed, loads and peak RSS the largest seen."""
    out: dict[int, dict] = {}
    for s in stats:
        m = out.setdefault(s["pid"], {"pid": s["pid"], "loads": 0, "patients": 0, "max_rss_mb": 0.0, "tasks": 0,
                                      "background": s.get("background")})
        m["loads"] = max(m["loads"], s["loads"])
        m["patients"] += s["patients"]
        m["max_rss_mb"] = max(m["max_rss_mb"], s["max_rss_mb"])
        m["tasks"] += 1
    return sorted(out.values(), key=lambda m: m["pid"])
