"""Discovery: SMART configuration, OpenID configuration, CapabilityStatement, JWKS, style."""
from __future__ import annotations

import httpx
import pytest

OAUTH_URIS = "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris"


@pytest.mark.parametrize("tenant", ["epic", "cerner"])
def test_smart_configuration(base, tenant):
    response = httpx.get(f"{base}/{tenant}/fhir/.well-known/smart-configuration",
                         headers={"Accept": "text/html"})
    assert response.headers["content-type"].startswith("application/json")
    config = response.json()
    assert config["issuer"] == f"{base}/{tenant}/oauth2"
    assert config["jwks_uri"] == f"{base}/{tenant}/oauth2/jwks"
    assert config["authorization_endpoint"] == f"{base}/{tenant}/oauth2/authorize"
    assert config["token_endpoint"] == f"{base}/{tenant}/oauth2/token"
    assert config["code_challenge_methods_supported"] == ["S256"]
    assert config["token_endpoint_auth_signing_alg_values_supported"] == ["RS384", "ES384"]
    assert set(config["grant_types_supported"]) == {"authorization_code", "refresh_token", "client_credentials"}
    assert {"launch-ehr", "launch-standalone", "client-public", "client-confidential-symmetric",
            "client-confidential-asymmetric", "context-ehr-patient", "context-ehr-encounter",
            "context-standalone-patient", "sso-openid-connect", "permission-v1", "permission-v2",
            "permission-offline", "permission-online", "context-banner",
            "context-style"} <= set(config["capabilities"])


def test_capability_statement(base):
    response = httpx.get(f"{base}/epic/fhir/metadata")
    assert response.headers["content-type"].startswith("application/fhir+json")
    statement = response.json()
    assert statement["fhirVersion"] == "4.0.1"
    ext = statement["rest"][0]["security"]["extension"][0]
    assert ext["url"] == OAUTH_URIS
    uris = {e["url"]: e["valueUri"] for e in ext["extension"]}
    assert uris == {"authorize": f"{base}/epic/oauth2/authorize", "token": f"{base}/epic/oauth2/token"}
    observation = [r for r in statement["rest"][0]["resource"] if r["type"] == "Observation"][0]
    assert {"patient", "category", "_count"} <= {p["name"] for p in observation["searchParam"]}


def test_openid_configuration_and_jwks(base):
    config = httpx.get(f"{base}/cerner/oauth2/.well-known/openid-configuration").json()
    assert config["issuer"] == f"{base}/cerner/oauth2"
    keys = httpx.get(config["jwks_uri"]).json()["keys"]
    assert keys[0]["kty"] == "RSA" and keys[0]["kid"] and "d" not in keys[0]


def test_style(base):
    style = httpx.get(f"{base}/epic/style.json").json()
    assert {"color_background", "color_text", "color_highlight", "font_family_body"} <= set(style)


def test_unknown_tenant_is_404(base):
    assert httpx.get(f"{base}/nowhere/fhir/.well-known/smart-configuration").status_code == 404
    assert httpx.get(f"{base}/nowhere/fhir/Patient/p1").status_code == 404
