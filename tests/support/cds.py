"""A CDS Hooks client as the tests play it: its keys served on loopback, its signed JWTs, its hook calls."""
from __future__ import annotations

import time
import uuid

from flask import Flask
from joserfc import jwt
from joserfc.jwk import ECKey, KeySet, RSAKey

from tests.servers import serve

SANDBOX_ISS = "https://sandbox.cds-hooks.example"


class Signer:
    """A CDS client: its keys served as a JWKS on loopback, and JWTs signed the way it would."""

    def __init__(self, iss: str, alg: str):
        self.iss, self.alg = iss, alg
        key = (RSAKey.generate_key(2048, private=True) if alg == "RS384" else ECKey.generate_key("P-384", private=True))
        self.kid = uuid.uuid4().hex
        self.key = key
        jwks = KeySet([RSAKey.import_key(key.as_dict(private=False)) if alg == "RS384"
                       else ECKey.import_key(key.as_dict(private=False))]).as_dict()
        jwks["keys"][0].update(kid=self.kid, alg=alg, use="sig")
        app = Flask("jwks")
        app.get("/jwks.json")(lambda: jwks)
        self.served = serve(app)
        self.jwks_url = f"{self.served.url}/jwks.json"

    def token(self, aud: str, **claims) -> str:
        """A JWT for ``aud`` signed with this client's key (``claims`` add to or replace the defaults)."""
        now = int(time.time())
        payload = {"iss": self.iss, "aud": aud, "exp": now + 300, "iat": now, "jti": uuid.uuid4().hex,
                   **({"sub": "epic-client", "nbf": now - 300} if self.alg == "RS384" else {}), **claims}
        header = {"alg": self.alg, "kid": self.kid, "typ": "JWT", "jku": self.jwks_url}
        return jwt.encode(header, payload, self.key, algorithms=[self.alg])


def hook_body(pid: str, **extra) -> dict:
    """A patient-view hook call for ``pid`` (``extra``: prefetch, fhirAuthorization …)."""
    return {"hook": "patient-view", "hookInstance": str(uuid.uuid4()),
            "context": {"userId": "Practitioner/123", "patientId": pid}, **extra}
