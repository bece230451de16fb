"""Test helpers for SMART Backend Services and Bulk Data export against the sandbox, over real HTTP."""
from __future__ import annotations

import json
import re
import time

import httpx
from joserfc.jwk import KeySet

from dev.sandbox import create_sandbox
from tests.servers import free_port, serve

from .smart import REDIRECT, assertion

V2 = ("system/Patient.rs system/Group.rs system/Condition.rs system/Observation.rs "
      "system/DocumentReference.rs system/DiagnosticReport.rs system/Binary.r")
V1 = ("system/Patient.read system/Group.read system/Condition.read system/Observation.read "
      "system/DocumentReference.read system/DiagnosticReport.read system/Binary.read")
NARROW = "system/Patient.rs system/Condition.rs"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
KICK_OFF_HEADERS = {"Accept": "application/fhir+json", "Prefer": "respond-async"}
# The group members of the test population (see ``population``).
MEMBERS = {"all": ["p1", "p2", "rd-001", "rd-002", "edge-one"], "rare": ["rd-001", "rd-002"], "edge": ["edge-one"]}


def clone(bundle: dict, old: str, new: str) -> dict:
    """A copy of a one-patient bundle with the patient id (and every id derived from it) renamed."""
    return json.loads(re.sub(rf"\b{re.escape(old)}\b", new, json.dumps(bundle)))


def population(bundles: list[dict]) -> list[dict]:
    """The two-patient fixture plus clones, so the ``rare`` and ``edge`` groups have members."""
    p1, p2 = bundles
    return [p1, p2, clone(p1, "p1", "rd-001"), clone(p2, "p2", "rd-002"), clone(p2, "p2", "edge-one")]


def registrations(keys: dict, jwks_url: str) -> list[dict]:
    """Backend registrations (inline public JWKS, one by JWKS URL), a code-flow private_key_jwt
    client and a public patient-launch client."""
    public = KeySet(list(keys.values())).as_dict(private=False)

    def backend(client_id, tenant, scope, **extra):
        keys_given = extra if "jwks_url" in extra else {"jwks": public, **extra}
        return {"client_id": client_id, "tenant": tenant, "token_endpoint_auth_method": "private_key_jwt",
                "grant_types": ["client_credentials"], "scope": scope, **keys_given}

    return [
        backend("backend", "epic", V2),
        backend("backend", "cerner", V1),
        backend("backend-narrow", "epic", NARROW),
        backend("backend-url", "epic", V2, jwks_url=jwks_url),
        backend("backend-short", "epic", V2, access_token_lifetime=120, redirect_uris=[REDIRECT]),
        {"client_id": "code-jwt", "tenant": "epic", "token_endpoint_auth_method": "private_key_jwt",
         "jwks": public, "redirect_uris": [REDIRECT], "scope": f"launch patient/*.rs {V2}"},
        {"client_id": "radar-public", "tenant": "epic", "token_endpoint_auth_method": "none",
         "redirect_uris": [REDIRECT], "scope": "launch openid fhirUser patient/*.rs patient/*.read user/*.rs"},
    ]


def start(bundles: list[dict], keys: dict, jwks_url: str, **config):
    """Serve a sandbox with the test population and the backend registrations."""
    port = free_port()
    app = create_sandbox({"BASE_URL": f"http://127.0.0.1:{port}", "PATIENTS": None,
                          "BUNDLES": population(bundles), "CLIENTS": registrations(keys, jwks_url),
                          "EXPORT_SECONDS": 0.3, "EXPORT_FILE_LINES": 2, **config})
    return serve(app, port)


def token_response(base: str, tenant: str, key, alg: str, *, client_id: str = "backend", scope: str | None = V2,
                   form: dict | None = None, **assertion_kw) -> httpx.Response:
    """A client_credentials token request with a private_key_jwt assertion."""
    url = f"{base}/{tenant}/oauth2/token"
    body = {"grant_type": "client_credentials", "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": assertion(key, alg, client_id, assertion_kw.pop("aud", url), **assertion_kw)}
    if scope is not None:
        body["scope"] = scope
    return httpx.post(url, data={**body, **(form or {})})


def token(base: str, tenant: str, key, alg: str = "RS384", **kw) -> str:
    """A backend access token (the request must succeed)."""
    response = token_response(base, tenant, key, alg, **kw)
    assert response.status_code == 200, response.text
    return response.json()["access_token"]


def bearer(access_token: str) -> dict:
    """The Authorization header."""
    return {"Authorization": f"Bearer {access_token}"}


def kick_off(base: str, tenant: str, access_token: str, path: str = "Group/rare", params=None, *,
             headers: dict | None = None, method: str = "GET", body: dict | None = None) -> httpx.Response:
    """A Bulk kick-off request (``path`` is ``Group/<id>`` or ``Patient``)."""
    sent = {**KICK_OFF_HEADERS, **bearer(access_token), **(headers or {})}
    sent = {k: v for k, v in sent.items() if v is not None}
    return httpx.request(method, f"{base}/{tenant}/fhir/{path}/$export", params=params, headers=sent,
                         json=body)


def status_url(response: httpx.Response) -> str:
    """The status URL of an accepted kick-off."""
    assert response.status_code == 202, response.text
    return response.headers["content-location"]


def wait_manifest(url: str, access_token: str, tries: int = 300) -> dict:
    """Poll a status URL until the manifest comes (every 202 must carry X-Progress and Retry-After)."""
    for _ in range(tries):
        response = httpx.get(url, headers=bearer(access_token))
        if response.status_code == 200:
            assert response.headers["content-type"].startswith("application/json")
            return response.json()
        assert response.status_code == 202, response.text
        assert re.match(r"^\d{1,3}% ", response.headers["x-progress"])
        assert response.headers["retry-after"] == "1"
        time.sleep(0.05)
    raise AssertionError(f"no manifest from {url}")


def export(base: str, tenant: str, access_token: str, path: str = "Group/rare", params=None, **kw) -> dict:
    """Kick off, wait, return the manifest."""
    return wait_manifest(status_url(kick_off(base, tenant, access_token, path, params, **kw)), access_token)


def download(url: str, access_token: str) -> list[dict]:
    """One output file, parsed line by line."""
    response = httpx.get(url, headers=bearer(access_token))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/fhir+ndjson")
    return [json.loads(line) for line in response.text.splitlines()]


def resources(manifest: dict, access_token: str) -> dict[str, list[dict]]:
    """Every exported resource by type, checking each file's count and line types."""
    found: dict[str, list[dict]] = {}
    for output in manifest["output"]:
        lines = download(output["url"], access_token)
        assert len(lines) == output["count"]
        assert {r["resourceType"] for r in lines} == {output["type"]}
        found.setdefault(output["type"], []).extend(lines)
    return found


def patient_of(resource: dict) -> str | None:
    """The patient a (non-Binary) resource belongs to."""
    if resource["resourceType"] == "Patient":
        return resource["id"]
    reference = (resource.get("subject") or resource.get("patient") or {}).get("reference", "")
    return reference.split("Patient/", 1)[1] if "Patient/" in reference else None


def expected(bundles: list[dict], patients: list[str], rtype: str) -> set[str]:
    """The ids of one type that the population's bundles hold for ``patients``."""
    ids = set()
    for bundle in population(bundles):
        resources_ = [e["resource"] for e in bundle["entry"]]
        owner = next(r["id"] for r in resources_ if r["resourceType"] == "Patient")
        if owner in patients:
            ids |= {r["id"] for r in resources_ if r["resourceType"] == rtype}
    return ids
