"""RaDaR in the chart: a SMART on FHIR app that suggests rare diseases inside the EHR."""
from __future__ import annotations

import logging
import os
import secrets

import httpx
from flask import Flask, current_app, g, request
from htmx_flask import Htmx

from .smart import binding, views as launch
from .cds import views as cds
from .ui import chart
from . import health
from .inference import service
from .config import ConfigError, load_settings
from .knowledge import load_knowledge, warm_up
from .store import connect

__all__ = ["create_app", "ConfigError"]


def create_app(config: dict | None = None) -> Flask:
    """Build the app: settings (env, overridden by ``config``) → clients → blueprints → headers."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    app = Flask(__name__, template_folder=os.path.join(root, "templates"),
                static_folder=os.path.join(root, "static"))
    settings = load_settings({**os.environ, **(config or {})})
    app.config.update(MAX_CONTENT_LENGTH=1024 * 1024)

    store = connect(settings.redis_url, settings.data_dir)
    knowledge = load_knowledge()  # once, before gunicorn forks its workers
    warm_up(knowledge)
    app.extensions.update({
        "radar.settings": settings,
        "radar.store": store,
        "radar.rq": store.raw(),
        "radar.knowledge": knowledge,
        "radar.http": httpx.Client(timeout=httpx.Timeout(settings.fhir_timeout, connect=5.0),
                                   limits=httpx.Limits(max_connections=100, max_keepalive_connections=20),
                                   headers={"User-Agent": "RaDaR-in-the-chart/0.1"}, follow_redirects=False),
    })

    Htmx(app)
    app.jinja_env.filters["allowed_link"] = allowed_link
    app.jinja_env.globals["csp_nonce"] = csp_nonce
    app.register_blueprint(health.bp)
    app.register_blueprint(launch.bp)
    app.register_blueprint(chart.bp)  # the RaDaR panel's routes are nested in it
    app.register_blueprint(cds.bp)
    app.after_request(binding.set_marker)
    app.after_request(security_headers)
    app.register_error_handler(401, lambda e: chart.relaunch_page())
    app.register_error_handler(403, lambda e: launch.message(
        "Request refused", "This request could not be verified. Reload the chart and try again.", 403))
    configure_logging(app)
    service.status(store, settings.model, fresh=True)  # the start-up check; it logs when RaDaR is down
    return app


ALLOWED_LINKS = ("https://www.orpha.net/en/disease/detail/", "https://omim.org/entry/")


def allowed_link(url: object) -> str | None:
    """Only Orphanet and OMIM pages are ever linked from model or ranker output."""
    if isinstance(url, str) and url.startswith(ALLOWED_LINKS) and all(c not in url for c in "\"'<> "):
        return url
    return None


def csp_nonce() -> str:
    """A per-response nonce for the one inline style block (EHR colours)."""
    if "csp_nonce" not in g:
        g.csp_nonce = secrets.token_urlsafe(16)
    return g.csp_nonce


def security_headers(response):
    """Headers for a page that lives inside an EHR iframe and holds patient data."""
    ancestors = current_app.extensions["radar.settings"].frame_ancestors
    response.headers.setdefault(
        "Content-Security-Policy",
        f"default-src 'self'; script-src 'self'; style-src 'self' 'nonce-{csp_nonce()}'; img-src 'self' data:; "
        f"connect-src 'self'; form-action 'self'; base-uri 'none'; object-src 'none'; frame-ancestors {ancestors}")
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Content-Type-Options"] = "nosniff"
    if request.path.startswith(("/s/", "/callback")):
        response.headers["Cache-Control"] = "no-store"
    return response


def configure_logging(app: Flask) -> None:
    """Application log: events only, by route template, never PHI, tokens or session ids."""
    logging.basicConfig(level=os.environ.get("RADAR_LOG_LEVEL", "INFO"),
                        format="%(asctime)s %(levelname)s %(name)s %(message)s")
    log = logging.getLogger("radar.http")
    # httpx logs every URL it requests, and FHIR URLs carry patient ids.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)

    @app.after_request
    def log_request(response):
        rule = request.url_rule.rule if request.url_rule else "(unmatched)"
        log.info("%s %s %s", request.method, rule, response.status_code)
        return response
