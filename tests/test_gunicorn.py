"""The app under real gunicorn (preloaded, two workers), as `make demo` and Helm run it."""
from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.servers import free_port, serve, start_gunicorn, wait_ready
from tests.support.stack import epic_tenant

# Slow: the app under a real gunicorn (make check leaves it out).
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def gunicorn_stack(tmp_path_factory):
    app_port, sandbox_port = free_port(), free_port()
    app_url, sandbox_url = f"http://127.0.0.1:{app_port}", f"http://127.0.0.1:{sandbox_port}"
    sandbox, env = epic_tenant(app_url, sandbox_url, tmp_path_factory.mktemp("gunicorn"))
    served = serve(sandbox, sandbox_port)
    proc = start_gunicorn(env, app_port)
    try:
        wait_ready(app_url, proc, seconds=30)
        yield app_url, sandbox_url, Path(env["RADAR_DATA_DIR"])
    finally:
        proc.terminate()
        proc.communicate(timeout=20)  # reaps it and closes its output pipe
        served.stop()


def test_launch_through_gunicorn_with_embedded_redis(gunicorn_stack):
    app_url, sandbox_url, _ = gunicorn_stack
    launch = httpx.post(f"{sandbox_url}/_sandbox/launch", json={"tenant": "epic", "patient": "rd-004"}).json()["url"]
    with httpx.Client(follow_redirects=True, timeout=30) as browser:
        chart = browser.get(launch)
        assert chart.status_code == 200 and 'id="problems"' in chart.text
        # Many reloads land on both workers: the session lives in the shared (embedded) Redis.
        for _ in range(8):
            again = browser.get(str(chart.url))
            assert again.status_code == 200 and 'id="problems"' in again.text


def test_control_socket_is_per_instance(gunicorn_stack):
    # gunicorn's default control socket is one per user: a second instance would share it.
    _, _, data_dir = gunicorn_stack
    assert (data_dir / "gunicorn.ctl").is_socket()


def test_bad_configuration_fails_at_start_with_a_clear_message(tmp_path):
    proc = start_gunicorn({"RADAR_EHRS": '[{"iss": "not a url", "client_id": "x"}]', "RADAR_DATA_DIR": str(tmp_path)},
                          free_port())
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode != 0
    assert "RADAR_EHRS[0].iss: 'not a url' is not an absolute http(s) URL" in out
