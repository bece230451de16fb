"""Sessions bound to the browser: the session id in the URL is no credential on its own.

A browser that keeps cookies at ``/callback`` gets a session that needs its cookie; a browser
that keeps none is refused, unless the admin allows cookie-less sessions (short-lived)."""
from __future__ import annotations

import http.cookiejar

import httpx
import pytest

from tests.support.stack import build_stack, new_browser, patient_name, session_id, start


def blocked_browser() -> tuple[httpx.Client, http.cookiejar.CookieJar]:
    """A browser that keeps no cookie (third-party cookies blocked inside the EHR frame)."""
    jar = http.cookiejar.CookieJar(policy=http.cookiejar.DefaultCookiePolicy(allowed_domains=[]))
    return httpx.Client(follow_redirects=True, timeout=30, cookies=jar), jar


@pytest.fixture(scope="module")
def cookieless(tmp_path_factory):
    """An app whose admin allows cookie-less sessions (five minutes)."""
    s = build_stack(tmp_path_factory.mktemp("cookieless"),
                    extra_env={"RADAR_COOKIELESS_SESSIONS": "true", "RADAR_COOKIELESS_TTL": "300"})
    yield s
    s.app_served.stop()
    s.sandbox_served.stop()


def test_url_alone_does_not_open_a_cookie_bound_session(stack):
    browser = new_browser()
    resp = stack.launch("epic", browser=browser)
    assert resp.status_code == 200
    sid = session_id(resp)
    assert stack.store.get("session", sid)["cookies"] is True
    # A client sending no cookies at all (the URL scraped from a log or a shoulder) is refused ...
    assert httpx.get(str(resp.url)).status_code == 401
    csrf = stack.store.get("session", sid)["csrf"]
    stolen = httpx.post(f"{stack.app_url}/s/{sid}/phenotypes/add", data={"hpo": "HP:0001250"},
                        headers={"X-CSRF-Token": csrf})
    assert stolen.status_code == 401
    # ... while the browser that launched keeps working.
    assert browser.get(str(resp.url)).status_code == 200


def test_browser_without_cookies_is_refused_at_the_callback_by_default(stack):
    browser, jar = blocked_browser()
    resp = stack.launch("epic", browser=browser)
    assert resp.status_code == 400 and "Cookies are blocked" in resp.text
    assert "/s/" not in str(resp.url)


def test_attackers_callback_url_does_not_sign_in_a_fresh_browser(stack):
    # The attacker runs a launch up to the EHR's redirect back, then has a fresh browser open it.
    callback = start(stack, new_browser())
    resp = new_browser().get(callback)
    assert resp.status_code == 400 and "/s/" not in str(resp.url)


def test_launch_works_where_cookies_are_blocked_when_allowed(cookieless):
    """Third-party cookies blocked inside the EHR frame: the per-launch id in the URL carries the session."""
    browser, jar = blocked_browser()
    resp = cookieless.launch("epic", browser=browser)
    assert resp.status_code == 200 and patient_name(cookieless) in resp.text
    assert not list(jar)
    assert browser.get(str(resp.url)).status_code == 200
    sid = session_id(resp)
    assert cookieless.store.get("session", sid)["cookies"] is False
    assert 0 < cookieless.store.redis.ttl(f"radar:session:{sid}") <= 300
    # A browser that keeps cookies is another browser: the cookie-less session is not for it.
    stranger = new_browser()
    stranger.cookies.set("radar_browser", "1")
    assert stranger.get(str(resp.url)).status_code == 401


def test_cookie_keeping_browsers_stay_bound_when_cookieless_is_allowed(cookieless):
    resp = cookieless.launch("epic")
    assert cookieless.store.get("session", session_id(resp))["cookies"] is True
    assert httpx.get(str(resp.url)).status_code == 401
