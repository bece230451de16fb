"""The JVM options the screen asks Spark for: the throughput garbage collector, where it is free to.

Spark's JVM runs with Java 17's default collector, G1, built for short pauses in large heaps; its
write barriers and concurrent threads cost every task. The screen is a batch job: the parallel
collector, which stops the world briefly and does nothing in between, costs less per patient
(issue 23). Measured by the screen's marginal cost, (T(1,176) - T(588)) / 588 on the development
screening population (588 records: 297 synthetic Synthea general-population, 291 carrying a
development rare case's findings, as per-type NDJSON), two runs each, the collectors alternately,
on the 2-vCPU development machine:

==================  ===========================  ===========================
master              G1 (Spark's default)         parallel collector
==================  ===========================  ===========================
``local[1]``        10.8-11.0 ms wall,           9.7-9.8 ms wall,
                    13.5 core-ms of the machine  11.5 core-ms of the machine
``local[2]``        machine CPU of the 1,176     21.6-22.2 s
                    run 23.0-23.3 s
==================  ===========================  ===========================

A JVM refuses to start with two collectors selected, so the option is added only where nothing
the deployment controls already names one (or sets Spark's default JVM options itself): the
session's configuration, ``PYSPARK_SUBMIT_ARGS`` and the JVM's own environment variables, and
``spark-defaults.conf``. It is the driver's option, and so applies to local masters, where the
driver's JVM runs every task; a cluster's executors keep what the cluster sets for them (set
``spark.executor.defaultJavaOptions=-XX:+UseParallelGC`` there for the same gain).
"""
from __future__ import annotations

import importlib.util
import re
from collections.abc import Mapping
from pathlib import Path

COLLECTOR = "-XX:+UseParallelGC"
DRIVER_OPTIONS = "spark.driver.defaultJavaOptions"
# Where a deployment may choose the JVM's options before Spark starts it.
ENVIRONMENT = ("PYSPARK_SUBMIT_ARGS", "SPARK_SUBMIT_OPTS", "JAVA_TOOL_OPTIONS", "JDK_JAVA_OPTIONS", "_JAVA_OPTIONS")
_CHOSEN = re.compile(r"-XX:\+Use\w*GC\b|defaultJavaOptions")


def options(master: str, config: Mapping[str, str], env: Mapping[str, str]) -> dict[str, str]:
    """The Spark configuration to add for ``master``: the parallel collector for a local master's
    JVM, or nothing where the deployment chose a collector or default JVM options itself."""
    if not master.startswith("local"):
        return {}
    chosen = [f"{key}={value}" for key, value in config.items()]
    chosen += [env.get(name, "") for name in ENVIRONMENT]
    chosen += [_read(path) for path in _defaults_files(env)]
    if any(_CHOSEN.search(text) for text in chosen):
        return {}
    return {DRIVER_OPTIONS: COLLECTOR}


def _defaults_files(env: Mapping[str, str]) -> list[Path]:
    """The ``spark-defaults.conf`` Spark reads: in ``SPARK_CONF_DIR``, else in ``SPARK_HOME/conf``."""
    if env.get("SPARK_CONF_DIR"):
        return [Path(env["SPARK_CONF_DIR"]) / "spark-defaults.conf"]
    home = env.get("SPARK_HOME") or _pyspark_home()
    return [Path(home) / "conf" / "spark-defaults.conf"] if home else []


def _pyspark_home() -> str | None:
    """Where the installed PySpark is, which its launcher takes for SPARK_HOME when none is set."""
    spec = importlib.util.find_spec("pyspark")
    return next(iter(spec.submodule_search_locations or []), None) if spec else None


def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except OSError:  # none there (the usual case), or unreadable: Spark will not read it either
        return ""
