"""The SMART authorization server of each tenant, built on authlib: authorize (EHR and
standalone launch), token (authorization code + PKCE S256, refresh, and client_credentials for
SMART Backend Services), client authentication (public, client secret, private_key_jwt with
RS384/ES384, see ``backend.py``) and an OpenID Connect id_token."""
from __future__ import annotations

import logging
import secrets
import time
from urllib.parse import urlencode

from authlib.common.security import generate_token
from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.integrations.flask_oauth2.requests import FlaskOAuth2Payload, FlaskOAuth2Request
from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6749 import ClientMixin, InvalidClientError, InvalidRequestError, InvalidScopeError, OAuth2Request, grants
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oidc.core import OpenIDCode
from flask import Blueprint, render_template, request

from .backend import BackendGrant, SmartClientAssertion
from .flavours import Tenant
from .runtime import current, tenant_or_404
from .session import Context, Grant, State
from .settings import ClientRegistration
from .store import PatientData, display_name

log = logging.getLogger(__name__)
bp = Blueprint("sandbox_auth", __name__)

AUTH_METHODS = ["private_key_jwt", "client_secret_basic", "client_secret_post", "none"]


class Client(ClientMixin):
    """A registered client, as authlib sees it."""

    def __init__(self, registration: ClientRegistration):
        self.reg = registration
        self.client_id = registration.client_id

    def get_client_id(self):
        return self.client_id

    def get_default_redirect_uri(self):
        # No default: SMART wants the redirect_uri sent and matched exactly.
        return None

    def get_allowed_scope(self, scope):
        """Granted scope = requested ∩ registered, in the requested order."""
        allowed = set(self.reg.scope.split())
        granted = dict.fromkeys(s for s in (scope or "").split() if s in allowed)
        return " ".join(granted)

    def check_redirect_uri(self, redirect_uri):
        return redirect_uri in self.reg.redirect_uris

    def check_client_secret(self, client_secret):
        return bool(self.reg.client_secret) and secrets.compare_digest(
            self.reg.client_secret.encode(), client_secret.encode())

    def check_endpoint_auth_method(self, method, endpoint):
        return method == self.reg.token_endpoint_auth_method if endpoint == "token" else True

    def check_response_type(self, response_type):
        return response_type == "code" and "authorization_code" in self.reg.grant_types

    def check_grant_type(self, grant_type):
        return grant_type in self.reg.grant_types


class _Request(FlaskOAuth2Request):
    """authlib's Flask request, minus its HTTPS check: the sandbox is a development EHR that may
    be reached over plain HTTP on a container host name, where TLS is the deployer's business."""

    def __init__(self, flask_request):
        url = flask_request.url
        OAuth2Request.__init__(self, flask_request.method, "https://" + url.split("://", 1)[1],
                               headers=flask_request.headers)
        self.uri = url
        self._request = flask_request
        self.payload = FlaskOAuth2Payload(flask_request)


class S256Challenge(CodeChallenge):
    """PKCE, required for every client, S256 only (SMART 2: ``plain`` is not allowed)."""

    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]
    DEFAULT_CODE_CHALLENGE_METHOD = "S256"

    def validate_code_challenge(self, grant, redirect_uri):
        data = grant.request.payload.data
        if not data.get("code_challenge"):
            raise InvalidRequestError("PKCE is required: missing 'code_challenge'.")
        if data.get("code_challenge_method") != "S256":
            raise InvalidRequestError("'code_challenge_method' must be S256.")
        super().validate_code_challenge(grant, redirect_uri)


class SmartAuthorizeRules:
    """Grant extension for what SMART adds to the authorization request: ``aud`` and ``launch``."""

    def __init__(self, server: SandboxAuthorizationServer):
        self.server = server

    def __call__(self, grant):
        grant.register_hook("after_validate_authorization_request_payload", self.validate)

    def validate(self, grant, result):
        """Check ``aud``, the launch value, and the sandbox-only patient shortcut."""
        data = grant.request.payload.data
        aud = data.get("aud") or data.get("resource")
        if not aud:
            raise InvalidRequestError("Missing 'aud': it must be this server's FHIR base URL.")
        if aud.rstrip("/") != self.server.tenant.fhir_base:
            raise InvalidRequestError("'aud' does not match this server's FHIR base URL.")
        launch = data.get("launch")
        if launch:
            if "launch" not in (data.get("scope") or "").split():
                raise InvalidScopeError("An EHR launch needs the 'launch' scope.")
            if self.server.state.peek_launch(launch, self.server.tenant.name) is None:
                raise InvalidRequestError("The 'launch' value is unknown, expired or already used.")
        picked = data.get("sandbox_patient")
        if picked and self.server.data.get("Patient", picked) is None:
            raise InvalidRequestError("Unknown 'sandbox_patient'.")


class SmartOpenIDCode(OpenIDCode):
    """The id_token: RS256, ``iss`` = the tenant's oauth2 URL, ``aud`` = client_id, 5 minutes,
    ``fhirUser`` = the absolute Practitioner URL."""

    def __init__(self, server: SandboxAuthorizationServer):
        super().__init__(require_nonce=False)
        self.server = server

    def resolve_client_private_key(self, client):
        return self.server.signing_key

    def get_client_algorithm(self, client):
        return "RS256"

    def get_encode_header(self, client):
        return {"alg": "RS256", "typ": "JWT", "kid": self.server.signing_key.kid}

    def get_client_claims(self, client):
        lifetime = self.server.settings["ID_TOKEN_LIFETIME"]
        return {"iss": self.server.tenant.issuer, "aud": client.client_id,
                "exp": int(time.time()) + lifetime}

    def exists_nonce(self, nonce, request):
        return False

    def generate_user_info(self, user: Context, scope):
        info = {"sub": user.practitioner}
        if "fhirUser" in scope.split():
            info["fhirUser"] = f"{self.server.tenant.fhir_base}/Practitioner/{user.practitioner}"
        return info


class CodeGrant(grants.AuthorizationCodeGrant):
    """Authorization code grant; the code carries the launch context and expires quickly."""

    TOKEN_ENDPOINT_AUTH_METHODS = AUTH_METHODS

    def save_authorization_code(self, code, request):
        server: SandboxAuthorizationServer = self.server
        data = request.payload.data
        launch = data.get("launch")
        # Spent here, not at validation, because authlib validates an authorize request twice.
        if launch and server.state.consume_launch(launch, server.tenant.name) is None:
            raise InvalidRequestError("The 'launch' value is unknown, expired or already used.",
                                      redirect_uri=request.payload.redirect_uri)
        now = time.time()
        server.state.save_code(code, Grant(
            tenant=server.tenant.name, client_id=request.client.client_id, scope=request.scope,
            context=request.user, expires_at=now + server.settings["CODE_LIFETIME"],
            redirect_uri=request.payload.redirect_uri,
            code_challenge=data.get("code_challenge"),
            code_challenge_method=data.get("code_challenge_method"),
            nonce=data.get("nonce"), auth_time=int(now), code=code))

    def query_authorization_code(self, code, client):
        return self.server.state.take_code(code, client.client_id)

    def delete_authorization_code(self, authorization_code):
        """Nothing to do: ``take_code`` already spent it."""

    def authenticate_user(self, authorization_code):
        return authorization_code.context


class RefreshGrant(grants.RefreshTokenGrant):
    """Refresh token grant: same context; Epic rotates the refresh token, Cerner keeps it."""

    TOKEN_ENDPOINT_AUTH_METHODS = AUTH_METHODS

    def authenticate_refresh_token(self, refresh_token):
        grant = self.server.state.refresh_grant(refresh_token)
        return grant if grant and grant.tenant == self.server.tenant.name else None

    def authenticate_user(self, refresh_token):
        return refresh_token.context

    def issue_token(self, user, refresh_token):
        scope = self.request.payload.scope or refresh_token.get_scope()
        return self.generate_token(user=user, scope=scope,
                                   include_refresh_token=self.server.tenant.flavour.rotate_refresh_token)

    def revoke_old_credential(self, refresh_token):
        if self.server.tenant.flavour.rotate_refresh_token:
            self.server.state.revoke_refresh(self.request.form["refresh_token"])


class SandboxAuthorizationServer(AuthorizationServer):
    """One tenant's authorization server."""

    def __init__(self, tenant: Tenant, clients: list[ClientRegistration], data: PatientData,
                 state: State, signing_key, settings: dict):
        super().__init__()
        self.tenant, self.data, self.state = tenant, data, state
        self.signing_key, self.settings = signing_key, settings
        self.clients = {c.client_id: Client(c) for c in clients if c.tenant == tenant.name}
        self.register_token_generator("default", self.bearer_token)
        self.register_client_auth_method("private_key_jwt", SmartClientAssertion(self))
        self.register_grant(CodeGrant, [S256Challenge(required=True), SmartAuthorizeRules(self),
                                        SmartOpenIDCode(self)])
        self.register_grant(RefreshGrant)
        self.register_grant(BackendGrant)

    def query_client(self, client_id):
        return self.clients.get(client_id)

    def create_oauth2_request(self, request):
        return _Request(request_proxy())

    def authenticate_client(self, request, methods, endpoint="token"):
        """Any client authentication failure is a 401 ``invalid_client``."""
        try:
            return super().authenticate_client(request, methods, endpoint)
        except InvalidClientError as error:
            error.status_code = 401
            raise

    def bearer_token(self, grant_type, client, user=None, scope=None, expires_in=None,
                     include_refresh_token=True):
        """The token response body, SMART launch context included; a backend services token
        has none (and lives ``BACKEND_TOKEN_LIFETIME``, 300 s, unless its registration says)."""
        scope = scope or ""
        if grant_type == "client_credentials":
            lifetime = client.reg.access_token_lifetime or self.settings["BACKEND_TOKEN_LIFETIME"]
            return {"access_token": generate_token(42), "token_type": "bearer", "expires_in": lifetime,
                    "scope": scope}
        lifetime = client.reg.access_token_lifetime or self.tenant.flavour.access_token_lifetime
        token = {"access_token": generate_token(42), "token_type": "Bearer",
                 "expires_in": lifetime, "scope": scope}
        if include_refresh_token and {"offline_access", "online_access"} & set(scope.split()):
            token["refresh_token"] = generate_token(48)
        if user.patient:
            token["patient"] = user.patient
        if user.encounter:
            token["encounter"] = user.encounter
        token["need_patient_banner"] = self.tenant.flavour.need_patient_banner
        token["smart_style_url"] = self.tenant.style_url
        return token

    def save_token(self, token, request):
        now = time.time()
        common = {"tenant": self.tenant.name, "client_id": request.client.client_id,
                  "scope": token["scope"], "context": request.user or Context(None)}
        access = Grant(**common, expires_at=now + token["expires_in"])
        refresh = Grant(**common, expires_at=None) if "refresh_token" in token else None
        self.state.save_tokens(token["access_token"], access, token.get("refresh_token"), refresh)
        if request.authorization_code is not None:
            issued = [token["access_token"], *([token["refresh_token"]] if refresh else [])]
            self.state.record_issued(request.authorization_code.code, issued)

    def launch_context(self, oauth_request) -> Context | None:
        """The context an authorize request gets; None when the user must still pick a patient."""
        data = oauth_request.payload.data
        granted = set((oauth_request.scope or "").split())
        if data.get("launch"):
            launch = self.state.peek_launch(data["launch"], self.tenant.name)
            if launch is None:
                raise InvalidRequestError("The 'launch' value is unknown, expired or already used.",
                                          redirect_uri=oauth_request.payload.redirect_uri)
            return Context(launch.practitioner, launch.patient, launch.encounter)
        if "launch/patient" in granted:
            patient = data.get("sandbox_patient")
            if not patient:
                return None
            encounter = self.data.latest_encounter(patient) if "launch/encounter" in granted else None
            return Context(self.data.practitioner_for(patient), patient, encounter)
        return Context(self.data.default_practitioner)


def request_proxy():
    """The current Flask request object (not the proxy), for authlib."""
    return request._get_current_object()


def _server(tenant: str) -> SandboxAuthorizationServer:
    return current().servers[tenant_or_404(tenant).name]


@bp.route("/<tenant>/oauth2/authorize", methods=["GET", "POST"])
def authorize(tenant):
    """Authorization endpoint: EHR launch approves at once; standalone shows a patient picker."""
    server = _server(tenant)
    try:
        grant = server.get_consent_grant(end_user=None)
        context = server.launch_context(grant.request)
    except OAuth2Error as error:
        if error.redirect_uri:
            error.state = request.values.get("state")
            return server.handle_error_response(None, error)
        return render_template("sandbox/error.html", error=error), 400
    if context is None:
        return render_template("sandbox/picker.html", tenant=server.tenant,
                               patients=_picker_links(server)), 200
    return server.create_authorization_response(grant=grant, grant_user=context)


@bp.route("/<tenant>/oauth2/token", methods=["POST"])
def token(tenant):
    """Token endpoint: authorization_code, refresh_token and client_credentials grants."""
    return _server(tenant).create_token_response()


def _picker_links(server: SandboxAuthorizationServer) -> list[dict]:
    params = [(k, v) for k, v in request.values.items(multi=True) if k != "sandbox_patient"]
    return [{"id": p["id"], "name": display_name(p), "gender": p.get("gender", ""),
             "birth_date": p.get("birthDate", ""),
             "url": f"{server.tenant.authorize_url}?{urlencode([*params, ('sandbox_patient', p['id'])])}"}
            for p in server.data.patients]
