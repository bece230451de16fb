"""Fixtures for the chart's templates rendered in-process."""
from __future__ import annotations

from pathlib import Path

import pytest
from flask import Flask

from app.knowledge.diseases import allowed_link, omim_url, orpha_code, orpha_url
from app.ui import chart

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def app():
    """The chart's templates and filters, without services: the analysis block renders from plain data."""
    flask_app = Flask("panel-test", template_folder=str(ROOT / "templates"), static_folder=str(ROOT / "static"))
    flask_app.jinja_env.filters.update(allowed_link=allowed_link, orpha_code=orpha_code, orpha_url=orpha_url,
                                       omim_url=omim_url)
    flask_app.register_blueprint(chart.bp)
    return flask_app
