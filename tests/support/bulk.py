"""What every small Bulk Data server of the tests answers before its export: SMART discovery and the
Backend Services token endpoint, under ``/fhir``."""
from __future__ import annotations

from flask import Flask, jsonify, request


def backend_auth(app: Flask, base: str, token: str) -> None:
    """Register ``/fhir/.well-known/smart-configuration`` and ``/fhir/token`` (client credentials,
    answering ``token``) on ``app``, a FHIR server at ``base``."""

    @app.get("/fhir/.well-known/smart-configuration")
    def config():
        return jsonify(token_endpoint=f"{base}/token", authorization_endpoint=f"{base}/authorize",
                       code_challenge_methods_supported=["S256"], capabilities=["client-confidential-asymmetric"])

    @app.post("/fhir/token")
    def issue():
        assert request.form["grant_type"] == "client_credentials"
        return jsonify(access_token=token, token_type="bearer", expires_in=300, scope=request.form["scope"])
