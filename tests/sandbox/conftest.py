"""Fixtures: a sandbox EHR and a client JWKS server, both on real loopback ports."""
from __future__ import annotations

from pathlib import Path

import pytest
from flask import Flask, jsonify
from joserfc.jwk import ECKey, KeySet, RSAKey

from dev.sandbox.store import read_bundles
from tests.servers import serve

from .smart import SECRET, registration, start_sandbox

FIXTURE = Path(__file__).with_name("patients.ndjson")


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


@pytest.fixture(scope="session")
def clients(keys, jwks_server) -> dict:
    """Test client registrations, keyed by a short name, with what each needs to authenticate."""
    jwks_url = f"{jwks_server.url}/jwks.json"
    return {
        "epic-public": registration("radar-public", "epic", "none"),
        "cerner-public": registration("radar-public", "cerner", "none"),
        "epic-basic": registration("epic-basic", "epic", "client_secret_basic", client_secret=SECRET),
        "epic-post": registration("epic-post", "epic", "client_secret_post", client_secret=SECRET),
        "epic-rs384": {**registration("epic-jwt", "epic", "private_key_jwt", jwks_url=jwks_url),
                       "key": keys["RS384"], "alg": "RS384"},
        "epic-es384": {**registration("epic-jwt", "epic", "private_key_jwt", jwks_url=jwks_url),
                       "key": keys["ES384"], "alg": "ES384"},
        "cerner-basic": registration("cerner-basic", "cerner", "client_secret_basic", client_secret=SECRET),
        "cerner-narrow": registration("cerner-narrow", "cerner", "none",
                              scope="launch openid fhirUser patient/Patient.read patient/Condition.read"),
    }


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
