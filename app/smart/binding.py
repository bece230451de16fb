"""Cookies that tie a pending launch (state) and a launch session to the browser that owns them.

One cookie per launch and per session, so several launches in one browser (Epic opens one
per patient) never overwrite each other. Inside a cross-site EHR iframe cookies must be
``SameSite=None; Secure; Partitioned``. A session whose browser kept our cookies at
``/callback`` is bound to them: a request without the session's cookie is refused, so the id in
the URL alone is no credential. Only where an admin allows it (``RADAR_COOKIELESS_SESSIONS``, for
EHR browsers that block every cookie) may the id in the URL carry a short-lived session alone.
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
    """True when this request carries the binding cookie for ``key`` and it is ``expected``."""
    sent = request.cookies.get(cookie_name(kind, key))
    return sent is not None and bool(expected) and hmac.compare_digest(sent.encode(), expected.encode())


def sent(kind: str, key: str) -> bool:
    """True when this request carries a binding cookie for ``key`` (whatever its value)."""
    return cookie_name(kind, key) in request.cookies


def keeps_cookies() -> bool:
    """True when this browser is known to keep our cookies (it sends the marker)."""
    return MARKER in request.cookies


def belongs(kind: str, key: str, record: dict) -> bool:
    """Whether this request comes from the browser that owns ``record`` (a session or launch state).

    A record made in a cookie-keeping browser needs its cookie; a cookie-less one (allowed by the
    admin) is served only to a browser that keeps no cookies of ours at all.
    """
    if record.get("cookies", True):
        return matches(kind, key, record.get("binding"))
    return not keeps_cookies() and not sent(kind, key)


def forget(response, kind: str, key: str, *, path: str):
    """Remove a binding cookie that has served its purpose."""
    response.delete_cookie(cookie_name(kind, key), path=path, **cookie_attributes())
    return response


def set_marker(response):
    """after_request: tell later requests that this browser keeps our cookies."""
    if MARKER not in request.cookies:
        response.set_cookie(MARKER, "1", max_age=365 * 24 * 3600, path="/", **cookie_attributes())
    return response
