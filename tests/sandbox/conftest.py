"""Fixtures: a sandbox EHR and a client JWKS server, both on real loopback ports."""
from __future__ import annotations

from pathlib import Path

import pytest
from flask import Flask, jsonify
from joserfc.jwk import ECKey, KeySet, RSAKey

from dev.sandbox import create_sandbox
from dev.sandbox.store import read_bundles
from tests.servers import free_port, serve

from .smart import REDIRECT, SECRET

FIXTURE = Path(__file__).with_name("patients.ndjson")
FULL_SCOPE = ("launch launch/patient launch/encounter openid fhirUser online_access offline_access "
              "patient/*.read patient/*.rs patient/Patient.r patient/Condition.rs patient/Observation.rs "
              "patient/DocumentReference.rs patient/DiagnosticReport.rs patient/Binary.r "
              "patient/Encounter.r user/Practitioner.r user/*.rs patient/Observation.read "
              "patient/Condition.read patient/Patient.read")


@pytest.fixture(scope="session")
def bundles() -> list[dict]:
    """The two-patient fixture."""
    return read_bundles(FIXTURE)


@pytest.fixture(scope="session")
def keys() -> dict:
    """The test client's signing keys (RS384 and ES384)."""
    return {"RS384": RSAKey.generate_key(2048, parameters={"kid": "test-rsa"}),
            "ES384": ECKey.generate_key("P-384", parameters={"kid": "test-ec"})}


@pytest.fixture(scope="session")
def jwks_server(keys):
    """A tiny app serving the test client's public JWKS."""
    app = Flask("jwks")

    @app.get("/jwks.json")
    def jwks():
        return jsonify(KeySet(list(keys.values())).as_dict(private=False))

    served = serve(app)
    yield served
    served.stop()


def _reg(client_id: str, tenant: str, method: str, **extra) -> dict:
    return {"client_id": client_id, "tenant": tenant, "token_endpoint_auth_method": method,
            "redirect_uris": [REDIRECT, "http://localhost:8000/callback"], "scope": FULL_SCOPE, **extra}


@pytest.fixture(scope="session")
def clients(keys, jwks_server) -> dict:
    """Test client registrations, keyed by a short name, with what each needs to authenticate."""
    jwks_url = f"{jwks_server.url}/jwks.json"
    return {
        "epic-public": _reg("radar-public", "epic", "none"),
        "cerner-public": _reg("radar-public", "cerner", "none"),
        "epic-basic": _reg("epic-basic", "epic", "client_secret_basic", client_secret=SECRET),
        "epic-post": _reg("epic-post", "epic", "client_secret_post", client_secret=SECRET),
        "epic-rs384": {**_reg("epic-jwt", "epic", "private_key_jwt", jwks_url=jwks_url),
                       "key": keys["RS384"], "alg": "RS384"},
        "epic-es384": {**_reg("epic-jwt", "epic", "private_key_jwt", jwks_url=jwks_url),
                       "key": keys["ES384"], "alg": "ES384"},
        "cerner-basic": _reg("cerner-basic", "cerner", "client_secret_basic", client_secret=SECRET),
        "cerner-narrow": _reg("cerner-narrow", "cerner", "none",
                              scope="launch openid fhirUser patient/Patient.read patient/Condition.read"),
    }


def registrations(clients: dict) -> list[dict]:
    """The registrations to hand to ``create_sandbox`` (one per client id and tenant)."""
    keep = ("client_id", "tenant", "token_endpoint_auth_method", "redirect_uris", "scope",
            "client_secret", "jwks_url")
    seen, regs = set(), []
    for client in clients.values():
        if (client["client_id"], client["tenant"]) not in seen:
            seen.add((client["client_id"], client["tenant"]))
            regs.append({k: client[k] for k in keep if k in client})
    return regs


def start_sandbox(bundles, clients, **config):
    """Serve a fresh sandbox whose BASE_URL is its real address."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    app = create_sandbox({"BASE_URL": base, "PATIENTS": None, "BUNDLES": bundles,
                          "CLIENTS": registrations(clients), **config})
    return serve(app, port)


@pytest.fixture(scope="session")
def sandbox(bundles, clients):
    """The shared sandbox; tests that inject faults clean up after themselves."""
    served = start_sandbox(bundles, clients)
    yield served
    served.stop()


@pytest.fixture
def base(sandbox) -> str:
    """The shared sandbox's base URL."""
    return sandbox.url
