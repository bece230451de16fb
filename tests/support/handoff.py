"""The population screen's hand-off into the chart, as the tests drive it: the app with RaDaR on
the vLLM stub and a real `radar worker`, patients read as the screen reads them, and the waits."""
from __future__ import annotations

import html
import json
import os
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from app.fetch.build import build_record
from app.pipeline import analyse
from dev.vllm_stub import create_stub
from tests.fhir_data import BUNDLES
from tests.servers import serve
from tests.support.stack import build_stack

ROOT = Path(__file__).resolve().parents[2]
MODEL = "sczzz/RaDaR-32B"
SCREENED_AT = "2026-12-03T02:00:00+00:00"


def exported(pid: str, seed: int = 0) -> list[dict]:
    """The patient's resources as a Bulk export hands them to the screen: loose resources in no
    particular order (per-type files, shuffled), notes pointing at ``Binary/<id>`` with the Binaries
    alongside, as the Epic-like tenant serves them."""
    resources, binaries = [], []
    for entry in BUNDLES[pid]["entry"]:
        res = json.loads(json.dumps(entry["resource"]))
        if res["resourceType"] == "DocumentReference":
            for n, content in enumerate(res.get("content", [])):
                att = content["attachment"]
                if "data" in att and "url" not in att:
                    binaries.append({"resourceType": "Binary", "id": f"{res['id']}-att{n}",
                                     "contentType": att.get("contentType", "text/plain"), "data": att.pop("data")})
                    att["url"] = f"Binary/{res['id']}-att{n}"
        resources.append(res)
    resources += binaries
    random.Random(seed).shuffle(resources)
    return resources


def screened(ctx, pid: str):
    """(record, analysis) of one patient as the screen makes them: the one builder, the one middle."""
    record = build_record(pid, exported(pid))
    return record, analyse(record, ctx.knowledge)


def line(pid: str, probability: float, flagged: bool = True, signal: str | None = "warning") -> dict:
    """One line of the screen's worklist."""
    return {"patient": pid, "rare_disease_probability": probability, "flagged": flagged,
            "signal": signal if flagged else None, "findings": 3, "suggestions": [], "evidence": []}


def stub_requests(rig) -> list[dict]:
    """The requests the vLLM stub has answered."""
    return httpx.get(f"{rig.stub.url}/_stub/requests").json()


def wait_done(store, cid: str, seconds: float = 60) -> dict:
    """The case once it is done, failed or cancelled; fail after ``seconds``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        case = store.get("case", cid)
        if case and case["status"] in ("done", "failed", "cancelled"):
            return case
        time.sleep(0.2)
    raise AssertionError(f"case {cid} still {store.get('case', cid)['status']}")


def narrative_of(page: str) -> str:
    """The narrative in the chart page's RaDaR form."""
    match = re.search(r'<textarea name="narrative"[^>]*>(.*?)</textarea>', page, re.S)
    assert match, "no narrative in the page"
    return html.unescape(match.group(1))


def radar_rig(tmp_path_factory):
    """The sandbox EHR and the app with RaDaR on the stub, and a `radar worker` on the app's Redis;
    a generator for a module-scoped fixture (``yield from radar_rig(tmp_path_factory)``)."""
    stub = serve(create_stub({"model": MODEL, "delay": 0.002}))
    stack = build_stack(tmp_path_factory.mktemp("handoff"), extra_env={
        "RADAR_URL": f"{stub.url}/v1", "RADAR_MODEL": MODEL, "RADAR_READ_TIMEOUT": "3", "RADAR_RETRIES": "1"})
    socket = stack.store.redis.connection_pool.connection_kwargs["path"]
    env = {**os.environ, "REDIS_URL": f"unix://{socket}", "RADAR_URL": f"{stub.url}/v1", "RADAR_MODEL": MODEL,
           "RADAR_READ_TIMEOUT": "3", "RADAR_RETRIES": "1", "RADAR_EHRS": ""}
    worker = subprocess.Popen([sys.executable, "-m", "app.cli", "worker"], cwd=ROOT, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    stack.stub, stack.ctx = stub, stack.app.extensions["radar"]
    yield stack
    if worker.poll() is None:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(timeout=20)
    stack.app_served.stop()
    stack.sandbox_served.stop()
    stub.stop()
