"""Cookies that tie a pending launch (state) and a launch session to the browser that owns them.

One cookie per launch and per session, so several launches in one browser (Epic opens one
per patient) never overwrite each other. Inside a cross-site EHR iframe cookies must be
``SameSite=None; Secure; Partitioned``; where the browser keeps no cookies at all (third-party
cookies blocked) the high-entropy id in the URL is the fallback. A browser that does keep our
cookies (it sends the marker) but lacks the right one is another browser and is refused.
"""
from __future__ import annotations

import hashlib
import hmac
import secrets

from flask import request

from .. import services

MARKER = "radar_browser"


def cookie_attributes() -> dict:
    """Secure, SameSite=None and Partitioned over https; Lax on plain-http development hosts."""
    secure = request.is_secure or (services.current().settings.public_url or "").startswith("https://")
    return {"secure": secure, "samesite": "None" if secure else "Lax", "partitioned": secure, "httponly": True}


def cookie_name(kind: str, key: str) -> str:
    """The cookie for one state (``kind`` "s") or session ("c"); the name never reveals the key."""
    return f"radar_{kind}_{hashlib.sha256(key.encode()).hexdigest()[:16]}"


def bind(response, kind: str, key: str, *, path: str, max_age: int) -> str:
    """Set a fresh binding cookie on ``response``; return the value to remember server-side."""
    value = secrets.token_urlsafe(24)
    response.set_cookie(cookie_name(kind, key), value, max_age=max_age, path=path, **cookie_attributes())
    return value


def matches(kind: str, key: str, expected: str | None) -> bool:
    """True when this request comes from the browser holding the binding for ``key``."""
    sent = request.cookies.get(cookie_name(kind, key))
    if sent is not None:
        return bool(expected) and hmac.compare_digest(sent, expected)
    return MARKER not in request.cookies


def forget(response, kind: str, key: str, *, path: str):
    """Remove a binding cookie that has served its purpose."""
    response.delete_cookie(cookie_name(kind, key), path=path, **cookie_attributes())
    return response


def set_marker(response):
    """after_request: tell later requests that this browser keeps our cookies."""
    if MARKER not in request.cookies:
        response.set_cookie(MARKER, "1", max_age=365 * 24 * 3600, path="/", **cookie_attributes())
    return response
