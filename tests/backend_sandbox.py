"""A sandbox EHR with SMART Backend Services clients that know a fresh app key set, and the app's
side of it (settings, store): for the Backend Services, Bulk export and ``radar screen --ehr`` tests."""
from __future__ import annotations

import json
from dataclasses import dataclass, field

import httpx

from app.config import load_settings
from app.config.ehrs import BACKEND_SCOPES, BACKEND_SCOPES_V1
from app.smart.keys import generate_keys
from app.store import connect
from dev.sandbox import create_sandbox
from tests.servers import Served, free_port, serve

V1_CHART_SCOPES = "launch openid fhirUser patient/Patient.read patient/Condition.read"


@dataclass
class BackendSandbox:
    """A sandbox EHR with Backend Services clients on its ``epic`` and ``cerner`` tenants, and the app's side."""

    served: Served
    keys: object
    store: object
    settings: object
    token_posts: list = field(default_factory=list)

    @property
    def url(self) -> str:
        return self.served.url

    def iss(self, tenant: str) -> str:
        return f"{self.url}/{tenant}/fhir"

    def ehr(self, tenant: str = "epic"):
        return self.settings.ehr_for(self.iss(tenant))

    def http(self, **kw) -> httpx.Client:
        """An HTTP client that notes every token request (the hook sees requests, not tokens)."""
        def note(request: httpx.Request) -> None:
            if request.url.path.endswith("/oauth2/token"):
                self.token_posts.append(str(request.url))
        return httpx.Client(timeout=10, event_hooks={"request": [note]}, **kw)

    def control(self, method: str, path: str, **kw) -> httpx.Response:
        resp = httpx.request(method, f"{self.url}/_sandbox/{path}", timeout=10, **kw)
        resp.raise_for_status()
        return resp

    def close(self) -> None:
        self.served.stop()
        self.store.close()


def backend_sandbox(tmp_path, **config) -> BackendSandbox:
    """Start a sandbox (the demo patients) whose backend clients know the app's public keys (inline JWKS)."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    keys = generate_keys()
    public = keys.as_dict(private=False)
    other = generate_keys().as_dict(private=False)
    clients = [
        {"client_id": "radar-backend", "tenant": "epic", "token_endpoint_auth_method": "private_key_jwt",
         "grant_types": ["client_credentials"], "jwks": public, "scope": BACKEND_SCOPES},
        {"client_id": "radar-backend", "tenant": "cerner", "token_endpoint_auth_method": "private_key_jwt",
         "grant_types": ["client_credentials"], "jwks": public, "scope": BACKEND_SCOPES_V1},
        {"client_id": "stranger", "tenant": "epic", "token_endpoint_auth_method": "private_key_jwt",
         "grant_types": ["client_credentials"], "jwks": other, "scope": BACKEND_SCOPES},
        {"client_id": "narrow", "tenant": "epic", "token_endpoint_auth_method": "private_key_jwt",
         "grant_types": ["client_credentials"], "jwks": public, "scope": "system/Patient.rs"},
    ]
    sandbox = create_sandbox({"BASE_URL": base, "CLIENTS": clients, "EXPORT_SECONDS": 0.3, **config})
    registry = [
        {"name": "epic", "iss": f"{base}/epic/fhir", "client_id": "radar-epic", "backend_client_id": "radar-backend"},
        {"name": "cerner", "iss": f"{base}/cerner/fhir", "client_id": "radar-cerner", "scopes": V1_CHART_SCOPES,
         "backend_client_id": "radar-backend"},
    ]
    settings = load_settings({"RADAR_EHRS": json.dumps(registry),
                              "RADAR_JWKS": json.dumps(keys.as_dict(private=True))})
    return BackendSandbox(served=serve(sandbox, port), keys=keys, store=connect(None, tmp_path), settings=settings)
