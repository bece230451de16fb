"""Launch-to-chart time for a busy patient (500 lab results, 20 notes) with the sandbox adding
50 ms to every FHIR request; concurrent vs sequential fetch. Prints numbers; asserts none.

Run with `make bench`.
"""
from __future__ import annotations

import statistics
import time

from app.fetch.fhir import FhirClient, fetch_record
from app.smart.sessions import SessionTokens
from tests.support.stack import build_stack, new_browser, session_id

PATIENT = "edge-busy"
LATENCY_MS = 50
RUNS = 5


def timed(fn, runs=RUNS):
    out = []
    for _ in range(runs):
        start = time.perf_counter()
        result = fn()
        out.append(time.perf_counter() - start)
    return out, result


def summary(label, seconds):
    ms = sorted(s * 1000 for s in seconds)
    print(f"  {label:<42} median {statistics.median(ms):7.0f} ms   min {ms[0]:7.0f}   max {ms[-1]:7.0f}   (n={len(ms)})")


def test_launch_to_chart(tmp_path):
    stack = build_stack(tmp_path, latency_ms=LATENCY_MS, fhir_timeout=20)
    try:
        print(f"\nlaunch-to-chart, patient {PATIENT}, sandbox latency {LATENCY_MS} ms per request")
        for tenant in ("epic", "cerner"):
            def launch(tenant=tenant):
                resp = stack.launch(tenant, PATIENT, browser=new_browser())
                assert resp.status_code == 200 and "Not available" not in resp.text
                return resp
            seconds, resp = timed(launch)
            summary(f"{tenant}: EHR launch → chart rendered", seconds)

            app = stack.app
            client = FhirClient(app.extensions["radar"].http, stack.iss(tenant),
                                SessionTokens(stack.store, app.extensions["radar"].http,
                                              app.extensions["radar"].settings, session_id(resp)), timeout=20)
            stack.control("DELETE", "requests")
            conc, record = timed(lambda client=client: fetch_record(client, PATIENT, concurrent=True), 3)
            requests = sum(sum(v.values()) if isinstance(v, dict) else v
                           for v in stack.control("GET", "requests").json().values()) // 3
            seq, _ = timed(lambda client=client: fetch_record(client, PATIENT, concurrent=False), 3)
            summary(f"{tenant}: fetch only, concurrent", conc)
            summary(f"{tenant}: fetch only, sequential", seq)
            print(f"  {tenant}: {len(record.observations)} labs, {len(record.notes)} notes/reports, "
                  f"{requests} FHIR requests per fetch")
    finally:
        stack.app_served.stop()
        stack.sandbox_served.stop()
