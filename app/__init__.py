"""RaDaR in the chart: a SMART on FHIR app that suggests rare diseases inside the EHR."""
from __future__ import annotations

import logging
import os
import secrets

from flask import Flask, g, jsonify, request
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from . import services
from .cds import views as cds
from .config import ConfigError, load_settings
from .health import bp as health
from .inference import service
from .knowledge.diseases import allowed_link, omim_url, orpha_code, orpha_url
from .pipeline import warm_up
from .smart import binding
from .smart import views as launch
from .ui import chart
from .ui.pages import message, relaunch_page

__all__ = ["create_app", "ConfigError"]
log = logging.getLogger("radar.http")


class RadarFlask(Flask):
    """Flask, except that an unhandled exception is logged by route template, never by path.

    Paths carry session ids (``/s/<sid>/…``) and launch values; Flask's own message would log them.
    """

    def log_exception(self, exc_info) -> None:
        """Log the failure with the route template and method only."""
        log.error("unhandled exception in %s %s", request.method, route_template(), exc_info=exc_info)


def create_app(config: dict | None = None) -> Flask:
    """Build the app: settings (env, overridden by ``config``) → services → blueprints → headers."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    app = RadarFlask(__name__, template_folder=os.path.join(root, "templates"),
                static_folder=os.path.join(root, "static"))
    settings = load_settings({**os.environ, **(config or {})})
    app.config.update(MAX_CONTENT_LENGTH=1024 * 1024)
    ctx = services.init_app(app, settings)  # before gunicorn forks its workers
    warm_up(ctx.knowledge)

    app.jinja_env.filters.update(allowed_link=allowed_link, orpha_code=orpha_code, orpha_url=orpha_url,
                                 omim_url=omim_url)
    app.jinja_env.globals["csp_nonce"] = csp_nonce
    app.register_blueprint(health)
    app.register_blueprint(launch.bp)
    app.register_blueprint(chart.bp)  # the RaDaR panel's routes are nested in it
    app.register_blueprint(cds.bp)
    app.after_request(binding.set_marker)
    app.after_request(security_headers)
    app.register_error_handler(401, lambda e: relaunch_page())
    app.register_error_handler(403, lambda e: message(
        "Request refused", "This request could not be verified. Reload the chart and try again.", 403))
    for outage in (RedisConnectionError, RedisTimeoutError):
        app.register_error_handler(outage, store_unavailable)
    configure_logging(app, settings.log_level)
    service.status(ctx.store, settings.model, fresh=True)  # the start-up check; it logs when RaDaR is down
    return app


def csp_nonce() -> str:
    """A per-response nonce for the one inline style block (EHR colours)."""
    if "csp_nonce" not in g:
        g.csp_nonce = secrets.token_urlsafe(16)
    return g.csp_nonce


def security_headers(response):
    """Headers for a page that lives inside an EHR iframe and holds patient data."""
    ancestors = services.current().settings.frame_ancestors
    response.headers.setdefault(
        "Content-Security-Policy",
        f"default-src 'self'; script-src 'self'; style-src 'self' 'nonce-{csp_nonce()}'; img-src 'self' data:; "
        f"connect-src 'self'; form-action 'self'; base-uri 'none'; object-src 'none'; frame-ancestors {ancestors}")
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Content-Type-Options"] = "nosniff"
    if request.path.startswith(("/s/", "/callback")):
        response.headers["Cache-Control"] = "no-store"
    return response


def route_template() -> str:
    """The matched route's template (``/s/<sid>/chart``), never the path with its ids."""
    return request.url_rule.rule if request.url_rule else "(unmatched)"


def store_unavailable(exc):
    """Redis is down: say the service is temporarily unavailable (a page, or JSON for CDS clients)."""
    log.error("store unavailable in %s %s: %s", request.method, route_template(), type(exc).__name__)
    if request.path.startswith("/cds-services"):
        return jsonify({"error": "the service is temporarily unavailable"}), 503, {"Retry-After": "30"}
    page, status = message("Temporarily unavailable", "RaDaR is temporarily unavailable. Try again in a minute.",
                           503)
    return page, status, {"Retry-After": "30"}


def configure_logging(app: Flask, level: str) -> None:
    """Application log: events only, by route template, never PHI, tokens or session ids."""
    logging.basicConfig(level=level,
                        format="%(asctime)s %(levelname)s %(name)s %(message)s")
    # httpx logs every URL it requests, and FHIR URLs carry patient ids.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)

    @app.after_request
    def log_request(response):
        log.info("%s %s %s", request.method, route_template(), response.status_code)
        return response
