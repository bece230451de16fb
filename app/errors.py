"""Errors that cross layers: a failed sign-in at an EHR, raised by ``app.smart`` and read by the Bulk client.

Here rather than in ``app.smart`` so that a door (``app.fetch.bulk_http``) can catch the failure of
the auth object it is handed without importing the SMART package that made it.
"""
from __future__ import annotations


class SignInError(Exception):
    """Signing in at an EHR failed; ``message`` is safe to show, ``detail`` (never a token) is for the
    integration engineer, ``status`` the HTTP status a view answers with."""

    def __init__(self, message: str, detail: str = "", status: int = 400):
        super().__init__(message)
        self.message = message
        self.detail = detail
        self.status = status
