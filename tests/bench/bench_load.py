"""Load: 50 concurrent simulated clinicians (EHR launch + chart) and 20 CDS calls a second, for
``BENCH_LOAD_SECONDS`` (default 60), against the app under gunicorn (as deployed) and the sandbox EHR.

A simulated clinician opens a patient's chart from the EHR, reads it for a while (think time,
uniformly 2–8 s, ``BENCH_LOAD_THINK_S`` = 5 on average; 0 makes it a closed loop), then opens the
next. The CDS sender is open-loop: 20 calls every second whatever the latency.

Prints the error rate and p50/p95 latency of each; asserts nothing (targets: 0 errors, chart p95
≤ 2 s, CDS p95 ≤ 500 ms on this 2-core machine). Bounded: every loop stops at the deadline, all
traffic stays on loopback.
"""
from __future__ import annotations

import json
import os
import random
import statistics
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx

from tests.fhir_data import BUNDLES, prefetch_for
from tests.servers import free_port, serve, start_gunicorn, wait_ready
from tests.support.cds import SANDBOX_ISS, Signer, hook_body
from tests.support.stack import epic_tenant

SECONDS = float(os.environ.get("BENCH_LOAD_SECONDS", "60"))
CLINICIANS = int(os.environ.get("BENCH_LOAD_CLINICIANS", "50"))
CDS_RATE = float(os.environ.get("BENCH_LOAD_CDS_PER_S", "20"))
THINK = float(os.environ.get("BENCH_LOAD_THINK_S", "5"))


def summary(name: str, latencies: list[float], errors: int) -> str:
    ms = sorted(x * 1000 for x in latencies)
    total = len(ms) + errors
    if not ms:
        return f"  {name}: {total} requests, all failed"
    return (f"  {name}: {total} requests, errors {errors} ({100 * errors / max(1, total):.1f} %), "
            f"p50 {statistics.median(ms):.0f} ms, p95 {ms[int(len(ms) * 0.95)]:.0f} ms, max {ms[-1]:.0f} ms")


def test_load_clinicians_and_cds(tmp_path):
    app_port, sandbox_port = free_port(), free_port()
    app_url, sandbox_url = f"http://127.0.0.1:{app_port}", f"http://127.0.0.1:{sandbox_port}"
    sandbox, env = epic_tenant(app_url, sandbox_url, tmp_path)
    served = serve(sandbox, sandbox_port)
    signer = Signer(SANDBOX_ISS, "ES384")
    env.update({"RADAR_CDS_CLIENTS": json.dumps([{"iss": SANDBOX_ISS, "jwks_url": signer.jwks_url}]),
                "RADAR_PUBLIC_URL": app_url,
                "RADAR_WEB_WORKERS": os.environ.get("RADAR_WEB_WORKERS", "2"), "RADAR_LOG_LEVEL": "WARNING"})
    proc = start_gunicorn(env, app_port, output=subprocess.DEVNULL)
    try:
        wait_ready(app_url, proc)
        patients = sorted(p for p in BUNDLES if p.startswith("rd-"))
        bodies = [json.dumps(hook_body(p, prefetch=prefetch_for(p))) for p in patients]
        endpoint = f"{app_url}/cds-services/radar-patient-view"
        lock = threading.Lock()
        chart, chart_errors, cds, cds_errors = [], [0], [], [0]
        reasons: dict[str, int] = {}

        def fail(counter: list[int], why: str) -> None:
            with lock:
                counter[0] += 1
                reasons[why] = reasons.get(why, 0) + 1

        def clinician(n: int, stop: float) -> None:
            rng = random.Random(n)
            time.sleep(rng.uniform(0, THINK))  # clinicians do not all open a chart in the same second
            while time.monotonic() < stop:
                patient = patients[n % len(patients)]
                with httpx.Client(follow_redirects=True, timeout=30) as browser:
                    start = time.perf_counter()
                    try:
                        minted = browser.post(f"{sandbox_url}/_sandbox/launch", json={"tenant": "epic", "patient": patient})
                        page = browser.get(minted.json()["url"])
                        ok = page.status_code == 200 and 'id="problems"' in page.text
                    except (httpx.HTTPError, ValueError, KeyError) as exc:
                        fail(chart_errors, f"chart {type(exc).__name__}")
                        continue
                    if ok:
                        with lock:
                            chart.append(time.perf_counter() - start)
                    else:
                        fail(chart_errors, f"chart HTTP {page.status_code}")
                n += CLINICIANS
                time.sleep(min(max(0.0, stop - time.monotonic()), rng.uniform(0.4, 1.6) * THINK))

        def cds_call(i: int, client: httpx.Client) -> None:
            headers = {"Authorization": f"Bearer {signer.token(endpoint)}", "Content-Type": "application/json"}
            start = time.perf_counter()
            try:
                resp = client.post(endpoint, content=bodies[i % len(bodies)], headers=headers)
            except httpx.HTTPError as exc:
                fail(cds_errors, f"cds {type(exc).__name__}")
                return
            if resp.status_code == 200:
                with lock:
                    cds.append(time.perf_counter() - start)
            else:
                fail(cds_errors, f"cds HTTP {resp.status_code}")

        # Warm-up: caches filled as in steady state (knowledge, JWKS, discovery).
        httpx.post(endpoint, content=bodies[0], timeout=30,
                   headers={"Authorization": f"Bearer {signer.token(endpoint)}", "Content-Type": "application/json"})
        with httpx.Client(follow_redirects=True, timeout=30) as browser:
            minted = browser.post(f"{sandbox_url}/_sandbox/launch", json={"tenant": "epic", "patient": patients[0]})
            browser.get(minted.json()["url"])
        stop = time.monotonic() + SECONDS
        threads = [threading.Thread(target=clinician, args=(n, stop)) for n in range(CLINICIANS)]
        for t in threads:
            t.start()
        with httpx.Client(timeout=30, limits=httpx.Limits(max_connections=64)) as client, \
                ThreadPoolExecutor(max_workers=64) as pool:
            i, next_at = 0, time.monotonic()
            while next_at < stop:  # an open-loop sender: 20 calls a second whatever the latency
                time.sleep(max(0.0, next_at - time.monotonic()))
                pool.submit(cds_call, i, client)
                i += 1
                next_at += 1 / CDS_RATE
        for t in threads:
            t.join()
        print(f"\nLoad for {SECONDS:.0f} s: {CLINICIANS} concurrent clinicians (launch + chart, think time "
              f"{THINK:.0f} s on average) and {CDS_RATE:.0f} CDS calls/s, "
              f"gunicorn {env['RADAR_WEB_WORKERS']} workers × 8 threads, sandbox EHR:")
        print(summary("launch → chart", chart, chart_errors[0]))
        print(summary("CDS patient-view", cds, cds_errors[0]))
        if reasons:
            print("  errors by kind: " + ", ".join(f"{k} × {v}" for k, v in sorted(reasons.items())))
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        signer.served.stop()
        served.stop()
