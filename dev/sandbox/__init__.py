"""The sandbox EHR: a small Flask app that behaves like a SMART on FHIR EHR (Epic- and
Cerner-like tenants) for developing and testing RaDaR in the chart."""
from __future__ import annotations

import argparse
import copy
import logging
import os
import time
from pathlib import Path

from flask import Flask, request
from joserfc.jwk import RSAKey
from werkzeug.serving import run_simple

from . import auth, bulk, discovery, fhir, launcher
from .auth import SandboxAuthorizationServer
from .exports import Exports
from .flavours import FLAVOURS, Tenant
from .runtime import Sandbox, current
from .session import State
from .settings import resolve
from .store import PatientData, read_bundles

log = logging.getLogger(__name__)


def create_sandbox(config: dict | None = None, *, sleep=time.sleep) -> Flask:
    """Build the sandbox EHR app; ``config`` overrides ``SANDBOX_*`` env vars, which override defaults.

    ``sleep`` is how a FHIR request waits out ``LATENCY_MS``.
    """
    settings = resolve(config)
    app = Flask(__name__)
    app.config["SANDBOX"] = settings
    # A copy: the sandbox stamps and touches its resources, and callers may share their bundles.
    bundles = copy.deepcopy(list(settings.get("BUNDLES") or []))
    patients_file = settings.get("PATIENTS")
    if patients_file and Path(patients_file).exists():
        bundles = read_bundles(patients_file) + bundles
    elif patients_file:
        log.warning("patient file %s not found; serving only the BUNDLES given", patients_file)
    tenants = {name: Tenant(name, FLAVOURS[flavour], settings["BASE_URL"])
               for name, flavour in settings["TENANTS"].items()}
    sandbox = Sandbox(
        settings=settings,
        data=PatientData(bundles),
        state=State(settings["LAUNCH_LIFETIME"], settings["LATENCY_MS"]),
        tenants=tenants,
        signing_key=RSAKey.generate_key(2048, parameters={"kid": f"sandbox-{int(time.time())}"}),
        exports=Exports(settings),
        sleep=sleep,
    )
    sandbox.servers = {name: SandboxAuthorizationServer(tenant, settings["CLIENTS"], sandbox.data,
                                                        sandbox.state, sandbox.signing_key, settings)
                       for name, tenant in tenants.items()}
    app.extensions["sandbox"] = sandbox
    app.before_request(_fhir_latency)
    for blueprint in (discovery.bp, auth.bp, fhir.bp, bulk.bp, launcher.bp):
        app.register_blueprint(blueprint)
    return app


def _fhir_latency() -> None:
    """Sleep ``LATENCY_MS`` in every FHIR request (a slow EHR, for benchmarks)."""
    parts = request.path.split("/")
    latency_ms = current().state.latency_ms
    if len(parts) > 2 and parts[2] == "fhir" and latency_ms > 0:
        current().sleep(latency_ms / 1000)


def main(argv: list[str] | None = None) -> None:
    """``python -m dev.sandbox``: serve the sandbox with werkzeug's threaded server.
    ``BASE_URL`` follows ``--host/--port`` unless ``SANDBOX_BASE_URL`` is set."""
    parser = argparse.ArgumentParser(description="Run the sandbox EHR.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO)
    config = {}
    if not os.environ.get("SANDBOX_BASE_URL"):
        host = "127.0.0.1" if args.host in ("0.0.0.0", "::") else args.host
        config["BASE_URL"] = f"http://{host}:{args.port}"
    run_simple(args.host, args.port, create_sandbox(config), threaded=True)
