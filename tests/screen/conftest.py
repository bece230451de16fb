"""Fixtures for the screen: a local Spark (the patients as files are in ``tests/support/exports.py``)."""
from __future__ import annotations

import pytest


@pytest.fixture
def spark_local():
    """A local Spark with two cores (a session started earlier on another master is stopped)."""
    from app.screen.spark import session

    return session("local[2]")
