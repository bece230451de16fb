"""SMART Backend Services: client_credentials + private_key_jwt against the sandbox EHR over HTTP."""
from __future__ import annotations

import json
import logging
import time
from dataclasses import replace

import httpx
import pytest

from app.config import load_settings
from app.config.ehrs import BACKEND_SCOPES, BACKEND_SCOPES_V1
from app.smart.backend import BackendAuth
from app.smart.client import SmartError
from app.store import connect
from tests.backend_sandbox import backend_sandbox
from tests.servers import free_port


@pytest.fixture(scope="module")
def ehr_sandbox(tmp_path_factory):
    s = backend_sandbox(tmp_path_factory.mktemp("backend"))
    yield s
    s.close()


class Clock:
    """A clock the test moves by hand."""

    def __init__(self):
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def _with(ehr, **changes):
    return replace(ehr, **changes)


@pytest.mark.parametrize("tenant, scopes", [("epic", BACKEND_SCOPES), ("cerner", BACKEND_SCOPES_V1)])
def test_token_with_system_scopes_reads_any_patient(ehr_sandbox, tenant, scopes):
    ehr = ehr_sandbox.ehr(tenant)
    assert ehr.backend_scopes == scopes
    with ehr_sandbox.http() as http:
        auth = BackendAuth(http, ehr_sandbox.store, ehr, ehr_sandbox.keys)
        assert set(auth.granted_scope.split()) == set()
        headers = auth.headers()
        assert headers["Authorization"].startswith("Bearer ") and len(headers["Authorization"]) > 20
        assert set(auth.granted_scope.split()) == set(scopes.split())
        # No patient context: two different patients' records with the same token.
        for patient in ("rd-001", "rd-002"):
            resp = http.get(f"{ehr.iss}/Patient/{patient}", headers={**headers, "Accept": "application/fhir+json"})
            assert resp.status_code == 200 and resp.json()["id"] == patient


def test_es384_assertion(ehr_sandbox):
    with ehr_sandbox.http() as http:
        auth = BackendAuth(http, ehr_sandbox.store, _with(ehr_sandbox.ehr(), signing_alg="ES384"), ehr_sandbox.keys)
        assert auth.token()


def test_token_cached_then_renewed_a_minute_before_expiry(ehr_sandbox):
    clock = Clock()
    ehr_sandbox.token_posts.clear()
    with ehr_sandbox.http() as http:
        auth = BackendAuth(http, ehr_sandbox.store, ehr_sandbox.ehr(), ehr_sandbox.keys, clock=clock)
        first = auth.token()
        clock.now += 300 - 61  # the sandbox's tokens live 300 s
        assert auth.token() == first and auth.headers() == {"Authorization": f"Bearer {first}"}
        assert len(ehr_sandbox.token_posts) == 1
        clock.now += 2
        second = auth.token()
        assert second != first and len(ehr_sandbox.token_posts) == 2
        # The old token still works at the EHR: renewal happened before, not after, expiry.
        resp = http.get(f"{ehr_sandbox.iss('epic')}/Patient/rd-001", headers={"Authorization": f"Bearer {first}"})
        assert resp.status_code == 200


def test_renew_signs_in_again_with_a_fresh_assertion(ehr_sandbox):
    # The sandbox refuses a reused jti, so a second token proves a second assertion.
    with ehr_sandbox.http() as http:
        auth = BackendAuth(http, ehr_sandbox.store, ehr_sandbox.ehr(), ehr_sandbox.keys)
        first = auth.token()
        assert auth.renew() != first
        assert auth.token() != first


def test_unknown_key_is_refused(ehr_sandbox):
    with ehr_sandbox.http() as http:
        auth = BackendAuth(http, ehr_sandbox.store, _with(ehr_sandbox.ehr(), backend_client_id="stranger"),
                           ehr_sandbox.keys)
        with pytest.raises(SmartError) as err:
            auth.token()
    assert err.value.message == "The EHR refused the backend sign-in."
    assert "HTTP 401 invalid_client" in err.value.detail


def test_unregistered_scopes_are_refused(ehr_sandbox):
    ehr = _with(ehr_sandbox.ehr(), backend_client_id="narrow", backend_scopes="system/Observation.rs")
    with ehr_sandbox.http() as http:
        with pytest.raises(SmartError) as err:
            BackendAuth(http, ehr_sandbox.store, ehr, ehr_sandbox.keys).token()
    assert "HTTP 400 invalid_scope" in err.value.detail


def test_unreachable_token_endpoint(ehr_sandbox, tmp_path):
    ehr = _with(ehr_sandbox.ehr(), iss=f"http://127.0.0.1:{free_port()}/fhir")
    store = connect(None, tmp_path)
    try:
        with httpx.Client(timeout=2) as http, pytest.raises(SmartError) as err:
            BackendAuth(http, store, ehr, ehr_sandbox.keys).token()
    finally:
        store.close()
    assert err.value.status == 502


def test_entry_without_backend_client():
    settings = load_settings({"RADAR_EHRS": json.dumps([{"iss": "https://ehr.example.org/fhir", "client_id": "c"}])})
    with httpx.Client() as http, pytest.raises(SmartError, match="no backend_client_id"):
        BackendAuth(http, None, settings.ehr_for("https://ehr.example.org/fhir"), None)


def test_token_never_logged_nor_shown(ehr_sandbox, caplog):
    caplog.set_level(logging.DEBUG)
    with ehr_sandbox.http() as http:
        auth = BackendAuth(http, ehr_sandbox.store, ehr_sandbox.ehr(), ehr_sandbox.keys)
        token = auth.token()
        http.get(f"{ehr_sandbox.iss('epic')}/Patient/rd-001", headers=auth.headers())
    assert caplog.records, "nothing was logged: the check below would prove nothing"
    assert token not in caplog.text
    assert token not in repr(auth) and token not in str(vars(auth).get("granted_scope"))
    # Nothing of the token reached the store (it is saved to disk when embedded).
    assert not any(token in (ehr_sandbox.store.redis.get(k) or "") for k in ehr_sandbox.store.redis.keys("*")
                   if ehr_sandbox.store.redis.type(k) == "string")
