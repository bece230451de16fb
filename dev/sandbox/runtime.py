"""The running sandbox: one object holding settings, data, state, tenants and their
authorization servers, kept in ``app.extensions["sandbox"]``."""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from flask import abort, current_app
from joserfc.jwk import RSAKey

from .exports import Exports
from .flavours import Tenant
from .session import State
from .store import PatientData


@dataclass
class Sandbox:
    """Everything the views need."""

    settings: dict
    data: PatientData
    state: State
    tenants: dict[str, Tenant]
    signing_key: RSAKey
    exports: Exports
    servers: dict = field(default_factory=dict)
    sleep: Callable[[float], None] = time.sleep  # how a slow EHR waits (tests pass a recorder)

    @property
    def app_launch_url(self) -> str:
        """The app's EHR launch URL."""
        return self.settings["APP_LAUNCH_URL"]


def current() -> Sandbox:
    """The sandbox of the current Flask app."""
    return current_app.extensions["sandbox"]


def tenant_or_404(name: str) -> Tenant:
    """The tenant called ``name``; 404 when there is none."""
    tenant = current().tenants.get(name)
    if tenant is None:
        abort(404)
    return tenant
