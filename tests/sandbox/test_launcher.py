"""Launcher page, chart frame and the /_sandbox/ control API."""
from __future__ import annotations

import html
import re
from urllib.parse import parse_qs, quote, urlsplit

import httpx
import pytest

from .smart import fhir, launch, start_sandbox

APP_LAUNCH = "http://127.0.0.1:8000/launch"


@pytest.fixture
def no_faults(base):
    """Clear injected faults after the test."""
    yield
    httpx.delete(f"{base}/_sandbox/faults")


def test_launcher_lists_patients_per_tenant_with_fresh_launch_urls(base):
    page = httpx.get(f"{base}/").text
    links = re.findall(r'<a class="patient" href="([^"]+)" data-launch="([^"]+)" data-patient-name="([^"]+)"', page)
    assert len(links) == 4
    href, launch_url, name = (html.unescape(x) for x in links[0])
    assert name == "Alice Marfan"
    query = parse_qs(urlsplit(launch_url).query)
    assert launch_url.startswith(APP_LAUNCH + "?")
    assert query["iss"] == [f"{base}/epic/fhir"] and query["launch"][0]
    assert len({html.unescape(link[1]) for link in links}) == 4
    assert f'href="http://127.0.0.1:8000/standalone?iss={quote(base + "/cerner/fhir", safe="")}"' in page

    chart = httpx.get(f"{base}{href}")
    assert chart.status_code == 200
    assert "Alice Marfan" in chart.text
    assert f'id="app-frame" name="app-frame" src="{html.escape(launch_url)}"' in chart.text


def test_chart_refuses_foreign_urls(base):
    for url in ("http://evil.example/launch?x=1", APP_LAUNCH + "evil?x", "javascript:alert(1)"):
        assert httpx.get(f"{base}/epic/chart", params={"launch_url": url}).status_code == 400


def test_control_launch(base):
    body = httpx.post(f"{base}/_sandbox/launch", json={"tenant": "cerner", "patient": "p2"}).json()
    assert body["url"] == f"{APP_LAUNCH}?iss={quote(base + '/cerner/fhir', safe='')}&launch={body['launch']}"
    assert httpx.post(f"{base}/_sandbox/launch", json={"tenant": "x", "patient": "p2"}).status_code == 400
    assert httpx.post(f"{base}/_sandbox/launch", json={"tenant": "epic", "patient": "zz"}).status_code == 404


def test_control_patients(base):
    patients = httpx.get(f"{base}/_sandbox/patients").json()
    assert {(p["tenant"], p["id"], p["name"]) for p in patients} >= {("epic", "p1", "Alice Marfan"),
                                                                     ("cerner", "p2", "Bob Fabry")}


@pytest.mark.usefixtures("no_faults")
def test_fault_status(base, clients):
    token = launch(base, "epic", clients["epic-public"])["access_token"]
    httpx.post(f"{base}/_sandbox/faults", json={"tenant": "epic", "resource": "Condition", "mode": 503})
    response = fhir(base, "epic", token, "Condition?patient=p1")
    assert response.status_code == 503 and response.headers["retry-after"] == "1"
    assert response.json()["resourceType"] == "OperationOutcome"
    assert fhir(base, "epic", token, "Patient/p1").status_code == 200
    httpx.delete(f"{base}/_sandbox/faults")
    assert fhir(base, "epic", token, "Condition?patient=p1").status_code == 200


@pytest.mark.usefixtures("no_faults")
def test_fault_times_malformed_and_timeout(base, clients):
    token = launch(base, "cerner", clients["cerner-public"])["access_token"]
    httpx.post(f"{base}/_sandbox/faults", json={"tenant": "cerner", "resource": "Patient",
                                                "mode": "malformed", "times": 1})
    bad = fhir(base, "cerner", token, "Patient/p1")
    assert bad.status_code == 200
    with pytest.raises(ValueError):
        bad.json()
    assert fhir(base, "cerner", token, "Patient/p1").json()["id"] == "p1"
    httpx.post(f"{base}/_sandbox/faults", json={"tenant": "cerner", "resource": "Binary",
                                                "mode": "timeout", "seconds": 1})
    with pytest.raises(httpx.ReadTimeout):
        fhir(base, "cerner", token, "Binary/p1-note1-html", timeout=0.3)


def test_fault_mode_is_validated(base):
    assert httpx.post(f"{base}/_sandbox/faults", json={"mode": "explode"}).status_code == 400


def test_request_counters(base, clients):
    token = launch(base, "cerner", clients["cerner-public"])["access_token"]
    httpx.delete(f"{base}/_sandbox/requests")
    fhir(base, "cerner", token, "Condition?patient=p1")
    fhir(base, "cerner", token, "Condition?patient=p1")
    fhir(base, "cerner", token, "Patient/p1")
    counts = httpx.get(f"{base}/_sandbox/requests").json()
    assert counts["cerner"] == {"Condition": 2, "Patient": 1}


def test_latency(bundles, clients):
    slept = []
    served = start_sandbox(bundles, clients, sleep=slept.append, LATENCY_MS=300)
    try:
        assert httpx.get(f"{served.url}/epic/fhir/metadata").status_code == 200
        assert slept == [0.3]  # each FHIR request waits LATENCY_MS
        assert httpx.get(f"{served.url}/").status_code == 200
        assert slept == [0.3]  # the launcher is no FHIR request
        httpx.post(f"{served.url}/_sandbox/latency", json={"ms": 0})
        httpx.get(f"{served.url}/epic/fhir/metadata")
        assert slept == [0.3]  # latency switched off at run time
    finally:
        served.stop()
