"""The app's signing keys for ``private_key_jwt`` and the public JWKS it serves."""
from __future__ import annotations

import uuid

from joserfc.jwk import ECKey, KeySet, RSAKey


def generate_keys() -> KeySet:
    """Create a fresh private JWK Set with one RS384 and one ES384 key (both SMART-required algs)."""
    rsa = RSAKey.generate_key(2048, parameters={"kid": f"rs384-{uuid.uuid4().hex[:12]}", "alg": "RS384",
                                                "use": "sig"}, private=True)
    ec = ECKey.generate_key("P-384", parameters={"kid": f"es384-{uuid.uuid4().hex[:12]}", "alg": "ES384",
                                                 "use": "sig"}, private=True)
    return KeySet([rsa, ec])


def public_jwks(keys: KeySet | None) -> dict:
    """The public half of ``keys`` as a JWKS document (empty when there are none)."""
    if not keys:
        return {"keys": []}
    return keys.as_dict(private=False)


def signing_key(keys: KeySet, alg: str):
    """The first key for ``alg``; config validation guarantees one exists."""
    return next(k for k in keys if k.alg == alg)
