"""The screen's JVM gets the parallel collector, and never a second one beside the deployment's."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from app.screen import jvm

ROOT = Path(__file__).resolve().parents[2]
BARE = {"PATH": "/usr/bin:/bin"}  # no Spark or JVM settings at all


def test_a_local_master_gets_the_parallel_collector():
    assert jvm.options("local[*]", {}, BARE) == {jvm.DRIVER_OPTIONS: "-XX:+UseParallelGC"}
    assert jvm.options("local[2]", {"spark.executor.memory": "1g", "spark.driver.extraJavaOptions": "-Xss4m"}, BARE)


def test_a_cluster_keeps_its_own_settings():
    assert jvm.options("spark://head:7077", {}, BARE) == {}
    assert jvm.options("k8s://https://api:6443", {}, BARE) == {}


@pytest.mark.parametrize(("config", "env"), [
    ({"spark.driver.extraJavaOptions": "-Xmx2g -XX:+UseG1GC"}, {}),
    ({"spark.driver.defaultJavaOptions": "-XX:MaxRAMPercentage=70"}, {}),
    ({}, {"PYSPARK_SUBMIT_ARGS": "--conf spark.driver.extraJavaOptions=-XX:+UseZGC pyspark-shell"}),
    ({}, {"JAVA_TOOL_OPTIONS": "-XX:+UseSerialGC"}),
    ({}, {"JDK_JAVA_OPTIONS": "-XX:+UseShenandoahGC"}),
    ({}, {"SPARK_SUBMIT_OPTS": "-XX:+UseParallelGC"}),
])
def test_nothing_is_added_where_the_deployment_chose_a_collector(config, env):
    # Two collectors selected and the JVM does not start at all ("Multiple garbage collectors selected").
    assert jvm.options("local[*]", config, {**BARE, **env}) == {}


def test_spark_defaults_conf_counts_as_the_deployments_choice(tmp_path):
    (tmp_path / "spark-defaults.conf").write_text("spark.driver.extraJavaOptions  -XX:+UseG1GC\n")
    assert jvm.options("local[*]", {}, {**BARE, "SPARK_CONF_DIR": str(tmp_path)}) == {}
    home = tmp_path / "home"
    (home / "conf").mkdir(parents=True)
    (home / "conf" / "spark-defaults.conf").write_text("spark.eventLog.enabled false\n")
    assert jvm.options("local[*]", {}, {**BARE, "SPARK_HOME": str(home)}) == {jvm.DRIVER_OPTIONS: jvm.COLLECTOR}


def test_options_that_choose_no_collector_do_not_count():
    env = {**BARE, "JAVA_TOOL_OPTIONS": "-XX:+UseCompressedOops -XX:+UseGCOverheadLimit -XX:-UseG1GC -Xmx1g"}
    assert jvm.options("local[*]", {}, env) == {jvm.DRIVER_OPTIONS: jvm.COLLECTOR}


SESSION = """
from app.screen import spark
s = spark.session("local[1]")
beans = s.sparkContext._jvm.java.lang.management.ManagementFactory.getGarbageCollectorMXBeans()
print(sorted(b.getName() for b in beans))
s.stop()
"""


def test_the_screens_jvm_runs_the_parallel_collector_and_starts_beside_a_deployments_choice():
    pytest.importorskip("pyspark")
    # A fresh process: the JVM takes its options when it starts, once per Python process.
    env = {k: v for k, v in os.environ.items() if k not in jvm.ENVIRONMENT}
    run = subprocess.run([sys.executable, "-c", SESSION], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=180, check=True)
    assert "PS Scavenge" in run.stdout.splitlines()[-1]  # the parallel collector's young generation
    chosen = subprocess.run([sys.executable, "-c", SESSION], cwd=ROOT, env={**env, "JAVA_TOOL_OPTIONS": "-XX:+UseSerialGC"},
                            capture_output=True, text=True, timeout=180, check=True)
    assert "Copy" in chosen.stdout.splitlines()[-1]  # the serial collector the deployment chose, and the JVM started
