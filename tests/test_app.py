"""The app as a whole: what it logs when something breaks, and how it answers while Redis is down."""
from __future__ import annotations

import logging
import shutil
import subprocess
import time

import httpx
import pytest
import redis

from app import create_app
from tests.support.stack import build_stack, new_browser, session_id

REDIS_SERVER = shutil.which("redis-server")


def test_unhandled_exception_is_logged_by_route_template(tmp_path, caplog):
    app = create_app({"RADAR_DATA_DIR": str(tmp_path), "REDIS_URL": ""})
    app.add_url_rule("/s/<sid>/explode", "explode", lambda sid: 1 / 0)
    with caplog.at_level(logging.INFO):
        resp = app.test_client().get("/s/SECRET-SESSION-ID-123/explode")
    assert resp.status_code == 500
    assert "SECRET-SESSION-ID-123" not in caplog.text
    assert "/s/<sid>/explode" in caplog.text and "ZeroDivisionError" in caplog.text


def start_redis(socket: str) -> subprocess.Popen:
    proc = subprocess.Popen([REDIS_SERVER, "--port", "0", "--unixsocket", socket, "--save", "", "--appendonly", "no"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    client = redis.Redis(unix_socket_path=socket)
    for _ in range(100):
        try:
            client.ping()
            return proc
        except redis.exceptions.ConnectionError:
            time.sleep(0.05)
    raise AssertionError("redis-server did not start")


@pytest.mark.skipif(REDIS_SERVER is None, reason="needs redis-server")
def test_redis_outage_is_a_503_page_and_logs_no_session_id(tmp_path, caplog):
    socket = str(tmp_path / "redis.sock")
    server = start_redis(socket)
    stack = build_stack(tmp_path, extra_env={"REDIS_URL": f"unix://{socket}"})
    try:
        browser = new_browser()
        resp = stack.launch("epic", browser=browser)
        sid = session_id(resp)
        server.terminate()
        server.wait(timeout=10)
        with caplog.at_level(logging.INFO):
            page = browser.get(str(resp.url))
            cds = httpx.get(f"{stack.app_url}/readyz")
        assert page.status_code == 503 and "temporarily unavailable" in page.text
        assert "Traceback" not in page.text and "redis" not in page.text.lower()
        assert cds.status_code == 503
        # The app's own log (the loopback test server's werkzeug access log is not the app's; gunicorn
        # runs with no access log).
        assert all(sid not in r.getMessage() for r in caplog.records if r.name != "werkzeug")
        assert any("/s/<sid>/chart 503" in r.getMessage() for r in caplog.records)
    finally:
        if server.poll() is None:
            server.terminate()
        stack.app_served.stop()
        stack.sandbox_served.stop()


def test_non_ascii_csrf_token_is_refused_not_a_crash(stack):
    browser = new_browser()
    resp = stack.launch("epic", browser=browser)
    sid = session_id(resp)
    sent = browser.post(f"{stack.app_url}/s/{sid}/phenotypes/add", data={"hpo": "HP:0001250", "csrf_token": "é☃"})
    assert sent.status_code == 403
