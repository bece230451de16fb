"""CDS Hooks latency under load: 20 concurrent callers against the app under gunicorn (as deployed),
each call a freshly signed JWT (ES384) and a full prefetch of one of the sandbox patients.
Prints p50/p95/max latency and throughput; asserts nothing.

The load generator is a small closed-loop client (20 threads, keep-alive httpx clients), since
each request needs its own signed token and body — a fixed-request tool (wrk, ab) cannot do that.
"""
from __future__ import annotations

import json
import os
import statistics
import subprocess
import threading
import time

import httpx

from tests.fhir_data import BUNDLES, prefetch_for
from tests.servers import free_port, start_gunicorn, wait_ready
from tests.support.cds import SANDBOX_ISS, Signer, hook_body

CALLERS = 20
CALLS = int(os.environ.get("BENCH_CDS_CALLS", "600"))


def test_cds_latency_at_20_concurrent_callers(tmp_path):
    signer = Signer(SANDBOX_ISS, "ES384")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {"RADAR_DATA_DIR": str(tmp_path), "REDIS_URL": "", "RADAR_EHRS": "", "RADAR_PUBLIC_URL": url,
           "RADAR_CDS_CLIENTS": json.dumps([{"iss": SANDBOX_ISS, "jwks_url": signer.jwks_url}]),
           "RADAR_WEB_WORKERS": os.environ.get("RADAR_WEB_WORKERS", "2"), "RADAR_LOG_LEVEL": "WARNING"}
    proc = start_gunicorn(env, port, output=subprocess.DEVNULL)
    try:
        wait_ready(url, proc)
        patients = sorted(p for p in BUNDLES if p.startswith("rd-"))
        bodies = [json.dumps(hook_body(p, prefetch=prefetch_for(p))) for p in patients]
        endpoint = f"{url}/cds-services/radar-patient-view"
        latencies, cards, errors = [], [0], [0]
        lock = threading.Lock()
        counter = iter(range(CALLS))

        def caller():
            with httpx.Client(timeout=30) as client:
                for i in counter:
                    body = bodies[i % len(bodies)]
                    headers = {"Authorization": f"Bearer {signer.token(endpoint)}", "Content-Type": "application/json"}
                    start = time.perf_counter()
                    resp = client.post(endpoint, content=body, headers=headers)
                    elapsed = time.perf_counter() - start
                    with lock:
                        latencies.append(elapsed)
                        if resp.status_code != 200:
                            errors[0] += 1
                        elif resp.json()["cards"]:
                            cards[0] += 1

        # warm-up: every worker has its caches filled, as in steady state
        for body in bodies[:8]:
            httpx.post(endpoint, content=body, headers={"Authorization": f"Bearer {signer.token(endpoint)}",
                                                        "Content-Type": "application/json"}, timeout=30)
        threads = [threading.Thread(target=caller) for _ in range(CALLERS)]
        start = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.perf_counter() - start
        ms = sorted(x * 1000 for x in latencies)
        print(f"\nCDS patient-view, {len(ms)} calls, {CALLERS} concurrent callers, gunicorn {env['RADAR_WEB_WORKERS']} "
              f"workers × 8 threads, full prefetch ({len(bodies)} different patients), fresh JWT per call:\n"
              f"  p50 {statistics.median(ms):.0f} ms   p95 {ms[int(len(ms) * 0.95)]:.0f} ms   max {ms[-1]:.0f} ms   "
              f"throughput {len(ms) / wall:.1f} calls/s   cards {cards[0]}   errors {errors[0]}")
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        signer.served.stop()
