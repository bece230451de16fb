"""Refresh tokens: Epic rotates them, Cerner keeps the original; expiry and revocation."""
from __future__ import annotations

import httpx
import pytest

from .smart import fhir, launch, start_sandbox, token_request


@pytest.fixture(scope="module")
def base(bundles, clients):
    """A sandbox of its own: these tests expire and revoke every token of a tenant."""
    served = start_sandbox(bundles, clients)
    yield served.url
    served.stop()


def _refresh(base, tenant, client, refresh_token):
    return token_request(base, tenant, client, {"grant_type": "refresh_token",
                                                "refresh_token": refresh_token})


def test_epic_refresh_rotates_and_keeps_context(base, clients):
    client = clients["epic-rs384"]
    first = launch(base, "epic", client)
    second = _refresh(base, "epic", client, first["refresh_token"]).json()
    assert second["patient"] == "p1" and second["expires_in"] == 3600
    assert second["refresh_token"] != first["refresh_token"]
    assert fhir(base, "epic", second["access_token"], "Patient/p1").status_code == 200
    reused = _refresh(base, "epic", client, first["refresh_token"])
    assert reused.json()["error"] == "invalid_grant"


def test_cerner_refresh_keeps_the_original_refresh_token(base, clients):
    client = clients["cerner-basic"]
    first = launch(base, "cerner", client)
    second = _refresh(base, "cerner", client, first["refresh_token"]).json()
    assert "refresh_token" not in second
    assert second["patient"] == "p1" and second["expires_in"] == 570
    third = _refresh(base, "cerner", client, first["refresh_token"])
    assert third.status_code == 200


def test_refresh_token_is_bound_to_its_client(base, clients):
    first = launch(base, "epic", clients["epic-basic"])
    response = _refresh(base, "epic", clients["epic-post"], first["refresh_token"])
    assert response.json()["error"] == "invalid_grant"


def test_expired_access_token_then_refresh(base, clients):
    client = clients["cerner-public"]
    token = launch(base, "cerner", client)
    assert httpx.post(f"{base}/_sandbox/tokens/expire", json={"tenant": "cerner"}).json()["expired"] >= 1
    response = fhir(base, "cerner", token["access_token"], "Patient/p1")
    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["www-authenticate"]
    fresh = _refresh(base, "cerner", client, token["refresh_token"]).json()
    assert fhir(base, "cerner", fresh["access_token"], "Patient/p1").status_code == 200


def test_revoked_tokens_cannot_refresh(base, clients):
    client = clients["epic-public"]
    token = launch(base, "epic", client)
    httpx.post(f"{base}/_sandbox/tokens/revoke", json={"tenant": "epic"})
    assert fhir(base, "epic", token["access_token"], "Patient/p1").status_code == 401
    assert _refresh(base, "epic", client, token["refresh_token"]).json()["error"] == "invalid_grant"
