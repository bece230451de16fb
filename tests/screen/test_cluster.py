"""The same screen on a real standalone Spark cluster: a master and two workers on loopback,
started here from the pyspark distribution (spark-class), one core each."""
from __future__ import annotations

import gzip
import io
import json
import os
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from app.batch import rank_stream
from app.pipeline import load_knowledge
from app.screen import spark
from tests.servers import free_port
from tests.support.exports import PATIENTS

# Slow: a standalone Spark master and two workers (make check leaves it out).
pytestmark = pytest.mark.slow


def _spark_class() -> Path:
    import pyspark

    return Path(pyspark.__file__).parent / "bin" / "spark-class"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """``spark://127.0.0.1:PORT`` with two live workers; everything stopped afterwards."""
    home = tmp_path_factory.mktemp("spark")
    port, ui = free_port(), free_port()
    env = {**os.environ, "SPARK_LOCAL_IP": "127.0.0.1", "SPARK_LOG_DIR": str(home), "SPARK_WORKER_DIR": str(home)}
    master_url = f"spark://127.0.0.1:{port}"
    logs = [open(home / f"{name}.log", "wb") for name in ("master", "worker-1", "worker-2")]
    procs = [subprocess.Popen([str(_spark_class()), "org.apache.spark.deploy.master.Master", "--host", "127.0.0.1",
                               "--port", str(port), "--webui-port", str(ui)], env=env, stdout=logs[0],
                              stderr=subprocess.STDOUT)]
    for n in (1, 2):
        procs.append(subprocess.Popen(
            [str(_spark_class()), "org.apache.spark.deploy.worker.Worker", "--host", "127.0.0.1", "--cores", "1",
             "--memory", "2g", "--webui-port", str(free_port()), "--work-dir", str(home / f"work-{n}"), master_url],
            env=env, stdout=logs[n], stderr=subprocess.STDOUT))
    try:
        _wait_for_workers(ui, 2)
        yield master_url
    finally:
        from pyspark import SparkContext

        if SparkContext._active_spark_context is not None:
            SparkContext._active_spark_context.stop()
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        for fh in logs:
            fh.close()


def _wait_for_workers(ui_port: int, count: int, seconds: float = 90) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            state = httpx.get(f"http://127.0.0.1:{ui_port}/json/", timeout=2).json()
            if state.get("aliveworkers", 0) >= count:
                return
        except (httpx.HTTPError, ValueError):
            pass
        time.sleep(0.5)
    raise AssertionError(f"the standalone master did not see {count} workers in {seconds} s")


def test_the_screen_runs_on_a_standalone_cluster_with_the_same_result(cluster):
    session = spark.session(cluster, config={"spark.driver.host": "127.0.0.1", "spark.driver.bindAddress": "127.0.0.1",
                                             "spark.executor.cores": "1", "spark.cores.max": "2",
                                             "spark.executor.memory": "1g"})
    assert session.sparkContext.master == cluster
    result = spark.screen(session, [str(PATIENTS)], partitions=4)
    lines = list(result.lines())
    out = io.StringIO()
    rank_stream(io.StringIO(gzip.decompress(PATIENTS.read_bytes()).decode()), out, load_knowledge(), top=10)
    ranked = {line["patient"]: line for line in map(json.loads, out.getvalue().splitlines())}
    assert sorted(line["patient"] for line in lines) == sorted(ranked)
    for line in lines:
        assert (line["flagged"], line["rare_disease_probability"]) == (
            ranked[line["patient"]]["flagged"], ranked[line["patient"]]["rare_disease_probability"])
    # Two executors (one per worker), each Python worker loading the knowledge once.
    assert len(result.processes) >= 2 and all(p["loads"] == 1 for p in result.processes)
    assert sum(p["patients"] for p in result.processes) == 69
    session.stop()
