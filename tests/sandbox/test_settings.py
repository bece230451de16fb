"""Configuration, client registrations and SMART scope parsing (no HTTP needed)."""
from __future__ import annotations

import json
import logging

import pytest

from dev.sandbox import create_sandbox
from dev.sandbox.scopes import access, parse_resource_scope
from dev.sandbox.settings import DEV_DIR, load_clients, resolve


def test_repo_clients_json(monkeypatch, caplog):
    monkeypatch.delenv("RADAR_DEMO_CERNER_SECRET", raising=False)
    with caplog.at_level(logging.WARNING):
        clients = load_clients(DEV_DIR / "clients.json")
    assert {(c.client_id, c.tenant) for c in clients} == {
        ("radar-epic", "epic"), ("radar-public", "epic"), ("radar-public", "cerner"),
        ("radar-backend", "epic"), ("radar-backend", "cerner")}
    assert "RADAR_DEMO_CERNER_SECRET" in caplog.text
    monkeypatch.setenv("RADAR_DEMO_CERNER_SECRET", "from-env")
    cerner = [c for c in load_clients(DEV_DIR / "clients.json") if c.client_id == "radar-cerner"][0]
    assert (cerner.client_secret, cerner.token_endpoint_auth_method) == ("from-env", "client_secret_basic")


def test_secrets_never_in_files(tmp_path):
    path = tmp_path / "clients.json"
    path.write_text(json.dumps([{"client_id": "x", "tenant": "epic", "client_secret": "s",
                                 "token_endpoint_auth_method": "client_secret_basic"}]))
    with pytest.raises(ValueError):
        load_clients(path)


def test_config_overrides_env_overrides_defaults(monkeypatch):
    monkeypatch.setenv("SANDBOX_BASE_URL", "http://sandbox:9000/")
    monkeypatch.setenv("SANDBOX_LATENCY_MS", "25")
    settings = resolve({"LATENCY_MS": 5, "CLIENTS": [], "TENANTS": {"acme": "cerner"}})
    assert settings["BASE_URL"] == "http://sandbox:9000"
    assert settings["LATENCY_MS"] == 5
    assert settings["TENANTS"] == {"epic": "epic", "cerner": "cerner", "acme": "cerner"}


def test_extra_tenant_and_plain_http_host(bundles):
    app = create_sandbox({"BASE_URL": "http://sandbox:9000", "PATIENTS": None, "BUNDLES": bundles,
                          "CLIENTS": [], "TENANTS": {"acme": "cerner"}})
    client = app.test_client()
    config = client.get("/acme/fhir/.well-known/smart-configuration").json
    assert config["token_endpoint"] == "http://sandbox:9000/acme/oauth2/token"
    # authlib would refuse plain HTTP off loopback; the sandbox answers with an OAuth error instead.
    response = client.post("/acme/oauth2/token", base_url="http://sandbox:9000",
                           data={"grant_type": "authorization_code", "code": "x", "client_id": "nobody"})
    assert response.json["error"] == "invalid_client"


@pytest.mark.parametrize("scope, resource, perm, expected", [
    ("patient/Observation.read", "Observation", "s", "patient"),
    ("patient/Observation.rs", "Observation", "r", "patient"),
    ("patient/Observation.r", "Observation", "s", None),
    ("patient/Observation.s", "Observation", "r", None),
    ("patient/*.read", "Binary", "r", "patient"),
    ("user/*.rs patient/Condition.rs", "Condition", "s", "user"),
    ("patient/Observation.sr", "Observation", "r", None),
    ("patient/Observation.rs?category=laboratory", "Observation", "s", None),
    ("launch openid fhirUser", "Patient", "r", None),
    ("patient/Observation.write", "Observation", "r", None),
])
def test_scope_access(scope, resource, perm, expected):
    assert access(scope, resource, perm) == expected


def test_parse_resource_scope():
    parsed = parse_resource_scope("user/Practitioner.r")
    assert (parsed.context, parsed.resource, parsed.perms) == ("user", "Practitioner", frozenset("r"))
    assert parse_resource_scope("launch/patient") is None


def test_generated_patients_file_is_served():
    """The synthesizer's real output loads and serves (skipped until the file exists)."""
    path = DEV_DIR / "data" / "patients.ndjson.gz"
    if not path.exists():
        pytest.skip("dev/data/patients.ndjson.gz not generated yet")
    app = create_sandbox({"CLIENTS": []})
    sandbox = app.extensions["sandbox"]
    assert len(sandbox.data.patients) > 2
    client = app.test_client()
    page = client.get("/").get_data(as_text=True)
    assert page.count('data-launch="') == 2 * len(sandbox.data.patients)
    first = sandbox.data.patients[0]["id"]
    assert sandbox.data.practitioner_for(first) in sandbox.data.resources["Practitioner"]
