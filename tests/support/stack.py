"""The sandbox EHR and the app, both over real HTTP on loopback with real (embedded) Redis, and
the helpers that drive them like a browser.

One sandbox serves five tenants so that every client-authentication method runs against both
flavours: Epic-like (private_key_jwt RS384 / ES384, client_secret_post) and Cerner-like
(client_secret_basic, public).
"""
from __future__ import annotations

import json
import os
import re
import secrets
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import httpx

from app import create_app
from app.smart.keys import generate_keys
from dev.sandbox import create_sandbox
from tests.servers import Served, free_port, serve

# tenant → (flavour, client id, auth method, signing alg)
TENANTS = {
    "epic": ("epic", "radar-epic", "private_key_jwt", "RS384"),
    "cerner": ("cerner", "radar-cerner", "client_secret_basic", None),
    "epic-post": ("epic", "radar-post", "client_secret_post", None),
    "cerner-public": ("cerner", "radar-public", "none", None),
    "epic-es": ("epic", "radar-es", "private_key_jwt", "ES384"),
}
SCOPES = ("launch launch/patient openid fhirUser online_access patient/Patient.r patient/Condition.rs "
          "patient/Observation.rs patient/DocumentReference.rs patient/DiagnosticReport.rs patient/Binary.r")
PATIENT = "rd-001"


@dataclass
class Stack:
    """The running sandbox EHR and app, with helpers to drive them."""

    app: object
    sandbox: object
    app_served: Served
    sandbox_served: Served
    secrets: dict = field(default_factory=dict)

    @property
    def app_url(self) -> str:
        return self.app_served.url

    @property
    def sandbox_url(self) -> str:
        return self.sandbox_served.url

    @property
    def store(self):
        return self.app.extensions["radar"].store

    def iss(self, tenant: str) -> str:
        return f"{self.sandbox_url}/{tenant}/fhir"

    def control(self, method: str, path: str, **kwargs) -> httpx.Response:
        resp = httpx.request(method, f"{self.sandbox_url}/_sandbox/{path}", timeout=10, **kwargs)
        resp.raise_for_status()
        return resp

    def mint(self, tenant: str = "epic", patient: str = PATIENT) -> str:
        """A fresh EHR launch URL of the app (what the EHR would open)."""
        return self.control("POST", "launch", json={"tenant": tenant, "patient": patient}).json()["url"]

    def fault(self, tenant: str, resource: str, mode, seconds: float = 5) -> None:
        """Make the sandbox fail ``resource`` requests: an HTTP status, "timeout" or "malformed"."""
        self.control("POST", "faults", json={"tenant": tenant, "resource": resource, "mode": mode, "seconds": seconds})

    def launch(self, tenant: str = "epic", patient: str = PATIENT, browser: httpx.Client | None = None) -> httpx.Response:
        """Run a whole EHR launch like a browser (following redirects) and return the final page."""
        browser = browser or new_browser()
        return browser.get(self.mint(tenant, patient))


def new_browser() -> httpx.Client:
    """A cookie-keeping HTTP client that follows redirects, like one browser."""
    return httpx.Client(follow_redirects=True, timeout=30)


def session_id(resp: httpx.Response) -> str:
    """The session id from a chart URL."""
    match = re.search(r"/s/([^/]+)/chart", str(resp.url))
    assert match, f"not a chart URL: {urlsplit(str(resp.url)).path}"
    return match.group(1)


def patient_name(stack, patient=PATIENT) -> str:
    """The name the sandbox shows for ``patient``."""
    rows = stack.control("GET", "patients").json()
    return next(r["name"] for r in rows if r["id"] == patient)


def start(stack, browser: httpx.Client, tenant="epic", patient=PATIENT) -> str:
    """Run the launch up to the EHR's redirect back to the app; return the callback URL (not visited)."""
    resp = browser.get(stack.mint(tenant, patient), follow_redirects=False)
    assert resp.status_code == 302, resp.text
    authorize = resp.headers["location"]
    resp = browser.get(authorize, follow_redirects=False)
    assert resp.status_code == 302, resp.text
    callback = resp.headers["location"]
    assert callback.startswith(f"{stack.app_url}/callback?")
    return callback


def build_stack(tmp_path, *, latency_ms: float = 0, fhir_timeout: int = 3,
                extra_env: dict | Callable[[str, str], dict] | None = None) -> Stack:
    """Start a sandbox and an app that know each other, on free ports.

    ``extra_env`` may be a function of (app URL, sandbox URL) for settings that name them, so
    the app is created with all its settings and none is changed after start-up.
    """
    app_port, sandbox_port = free_port(), free_port()
    app_url, sandbox_url = f"http://127.0.0.1:{app_port}", f"http://127.0.0.1:{sandbox_port}"
    if callable(extra_env):
        extra_env = extra_env(app_url, sandbox_url)
    keys = generate_keys()
    client_secrets = {t: secrets.token_urlsafe(16) for t, (_, _, auth, _) in TENANTS.items() if auth.startswith("client_secret")}
    clients, registry, env = [], [], {}
    for tenant, (_flavour, client_id, auth, alg) in TENANTS.items():
        client = {"client_id": client_id, "tenant": tenant, "token_endpoint_auth_method": auth,
                  "redirect_uris": [f"{app_url}/callback"], "scope": SCOPES + " offline_access"}
        entry = {"name": f"{tenant} sandbox", "iss": f"{sandbox_url}/{tenant}/fhir", "client_id": client_id,
                 "auth": auth, "scopes": SCOPES}
        if auth == "private_key_jwt":
            client["jwks_url"] = f"{app_url}/.well-known/jwks.json"
            entry["signing_alg"] = alg
        if tenant in client_secrets:
            client["client_secret"] = client_secrets[tenant]
            var = f"TEST_SECRET_{tenant.upper().replace('-', '_')}"
            env[var] = client_secrets[tenant]
            entry["secret_env"] = var
        clients.append(client)
        registry.append(entry)
    sandbox = create_sandbox({"BASE_URL": sandbox_url, "APP_LAUNCH_URL": f"{app_url}/launch", "LATENCY_MS": latency_ms,
                              "TENANTS": {t: v[0] for t, v in TENANTS.items()}, "CLIENTS": clients})
    app = create_app({**env, "RADAR_EHRS": json.dumps(registry), "RADAR_JWKS": json.dumps(keys.as_dict(private=True)),
                      "RADAR_DATA_DIR": str(tmp_path), "REDIS_URL": "", "RADAR_FHIR_TIMEOUT": str(fhir_timeout),
                      **(extra_env or {})})
    built = Stack(app=app, sandbox=sandbox, app_served=serve(app, app_port),
                  sandbox_served=serve(sandbox, sandbox_port), secrets=client_secrets)
    BUILT.append(built)
    return built


# Stacks built so far: each one's embedded Redis is stopped when its test module (or the session) ends.
BUILT: list[Stack] = []


CHROMIUM = os.environ.get("RADAR_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


EPIC_SCOPE = "launch openid fhirUser online_access patient/*.rs patient/*.read"


def epic_tenant(app_url: str, sandbox_url: str, data_dir) -> tuple[object, dict]:
    """A sandbox EHR whose Epic-like tenant knows the app (private_key_jwt), and the app's environment for it."""
    keys = generate_keys()
    sandbox = create_sandbox({"BASE_URL": sandbox_url, "APP_LAUNCH_URL": f"{app_url}/launch", "CLIENTS": [
        {"client_id": "radar-epic", "tenant": "epic", "token_endpoint_auth_method": "private_key_jwt",
         "jwks_url": f"{app_url}/.well-known/jwks.json", "redirect_uris": [f"{app_url}/callback"], "scope": EPIC_SCOPE}]})
    env = {"RADAR_EHRS": json.dumps([{"iss": f"{sandbox_url}/epic/fhir", "client_id": "radar-epic",
                                      "auth": "private_key_jwt", "scopes": "launch openid fhirUser online_access patient/*.rs"}]),
           "RADAR_JWKS": json.dumps(keys.as_dict(private=True)), "REDIS_URL": "", "RADAR_DATA_DIR": str(data_dir)}
    return sandbox, env
