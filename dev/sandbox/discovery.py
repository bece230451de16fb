"""Discovery documents: SMART configuration, OpenID configuration, JWKS, the CapabilityStatement
(with the Bulk Data ``export`` operations) and the style sheet handed out as ``smart_style_url``."""
from __future__ import annotations

from flask import Blueprint, jsonify

from .flavours import Tenant
from .runtime import current, tenant_or_404

bp = Blueprint("sandbox_discovery", __name__)

OAUTH_URIS = "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris"
CAPABILITIES = [
    "launch-ehr", "launch-standalone", "authorize-post", "client-public",
    "client-confidential-symmetric", "client-confidential-asymmetric", "context-ehr-patient",
    "context-ehr-encounter", "context-standalone-patient", "sso-openid-connect",
    "permission-v1", "permission-v2", "permission-offline", "permission-online",
    "permission-patient", "permission-user", "context-banner", "context-style",
]
SEARCHABLE = {
    "Condition": ["patient", "subject", "category"],
    "Observation": ["patient", "subject", "category", "code"],
    "DocumentReference": ["patient", "subject", "category"],
    "DiagnosticReport": ["patient", "subject", "category", "code"],
}
READABLE = ["Patient", "Condition", "Observation", "DocumentReference", "DiagnosticReport",
            "Binary", "Encounter", "Practitioner", "Group"]
SCOPES = ["openid", "fhirUser", "launch", "launch/patient", "launch/encounter", "offline_access",
          "online_access", "patient/*.read", "patient/*.rs", "user/*.read", "user/*.rs",
          *[f"patient/{t}.{p}" for t in READABLE for p in ("read", "rs", "r", "s")]]
BULK_DATA = "http://hl7.org/fhir/uv/bulkdata"
EXPORT_OPERATIONS = {
    "Group": {"name": "export", "definition": f"{BULK_DATA}/OperationDefinition/group-export"},
    "Patient": {"name": "export", "definition": f"{BULK_DATA}/OperationDefinition/patient-export"},
}


def system_scopes(tenant: Tenant) -> list[str]:
    """The backend services scopes a tenant understands: v1 only on the Cerner-like flavour."""
    if tenant.flavour.v1_system_scopes_only:
        return ["system/*.read", *[f"system/{t}.read" for t in READABLE]]
    return ["system/*.read", "system/*.rs", *[f"system/{t}.{p}" for t in READABLE for p in ("read", "rs", "r", "s")]]


def smart_configuration(tenant: Tenant) -> dict:
    """The ``.well-known/smart-configuration`` document of one tenant."""
    return {
        "issuer": tenant.issuer,
        "jwks_uri": tenant.jwks_url,
        "authorization_endpoint": tenant.authorize_url,
        "token_endpoint": tenant.token_url,
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
        "token_endpoint_auth_methods_supported": ["private_key_jwt", "client_secret_basic",
                                                  "client_secret_post"],
        "token_endpoint_auth_signing_alg_values_supported": ["RS384", "ES384"],
        "scopes_supported": SCOPES + system_scopes(tenant),
        "response_types_supported": ["code"],
        "code_challenge_methods_supported": ["S256"],
        "capabilities": CAPABILITIES,
    }


def openid_configuration(tenant: Tenant) -> dict:
    """The OpenID Provider metadata of one tenant."""
    return {
        "issuer": tenant.issuer,
        "jwks_uri": tenant.jwks_url,
        "authorization_endpoint": tenant.authorize_url,
        "token_endpoint": tenant.token_url,
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "scopes_supported": ["openid", "fhirUser"],
        "claims_supported": ["iss", "sub", "aud", "exp", "iat", "nonce", "fhirUser"],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": ["private_key_jwt", "client_secret_basic",
                                                  "client_secret_post"],
    }


def capability_statement(tenant: Tenant) -> dict:
    """An R4 CapabilityStatement with the (legacy) ``oauth-uris`` extension."""
    resources = []
    for rtype in READABLE:
        interactions = [{"code": "read"}]
        if rtype in SEARCHABLE:
            interactions.append({"code": "search-type"})
        resource = {
            "type": rtype,
            "interaction": interactions,
            "searchParam": [{"name": n, "type": "reference" if n in ("patient", "subject") else "token"}
                            for n in SEARCHABLE.get(rtype, [])] + (
                [{"name": "_count", "type": "number"}] if rtype in SEARCHABLE else []),
        }
        if rtype in EXPORT_OPERATIONS:
            resource["operation"] = [EXPORT_OPERATIONS[rtype]]
        resources.append(resource)
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": "2025-01-01",
        "kind": "instance",
        "software": {"name": f"RaDaR sandbox EHR ({tenant.flavour.name}-like)"},
        "implementation": {"description": f"Sandbox tenant {tenant.name}", "url": tenant.fhir_base},
        "fhirVersion": "4.0.1",
        "format": ["application/fhir+json"],
        "instantiates": [f"{BULK_DATA}/CapabilityStatement/bulk-data"],
        "rest": [{
            "mode": "server",
            "security": {
                "service": [{"coding": [{
                    "system": "http://terminology.hl7.org/CodeSystem/restful-security-service",
                    "code": "SMART-on-FHIR"}]}],
                "extension": [{"url": OAUTH_URIS, "extension": [
                    {"url": "authorize", "valueUri": tenant.authorize_url},
                    {"url": "token", "valueUri": tenant.token_url},
                ]}],
            },
            "resource": resources,
        }],
    }


def fhir_json(body: dict, status: int = 200):
    """A JSON response typed ``application/fhir+json``."""
    response = jsonify(body)
    response.status_code = status
    response.mimetype = "application/fhir+json"
    return response


@bp.route("/<tenant>/fhir/.well-known/smart-configuration")
def smart_config(tenant):
    """SMART discovery; JSON whatever the Accept header says."""
    return jsonify(smart_configuration(tenant_or_404(tenant)))


@bp.route("/<tenant>/oauth2/.well-known/openid-configuration")
@bp.route("/<tenant>/fhir/.well-known/openid-configuration")
def openid_config(tenant):
    """OpenID Connect discovery (Epic serves it under both paths)."""
    return jsonify(openid_configuration(tenant_or_404(tenant)))


@bp.route("/<tenant>/oauth2/jwks")
def jwks(tenant):
    """The public key that signs id_tokens."""
    tenant_or_404(tenant)
    key = current().signing_key
    return jsonify({"keys": [key.as_dict(private=False, use="sig", alg="RS256")]})


@bp.route("/<tenant>/fhir/metadata")
def metadata(tenant):
    """The CapabilityStatement, always as FHIR JSON."""
    return fhir_json(capability_statement(tenant_or_404(tenant)))


@bp.route("/<tenant>/style.json")
def style(tenant):
    """The styling hints behind ``smart_style_url``."""
    return jsonify(tenant_or_404(tenant).flavour.style)
