"""SMART launch against the sandbox EHR over real HTTP: every client-auth method, both flavours,
and every way a launch can go wrong."""
from __future__ import annotations

import logging
import re
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest

from app import audit
from tests.support.stack import PATIENT, TENANTS, new_browser, patient_name, session_id, start


@pytest.mark.parametrize("tenant", list(TENANTS))
def test_ehr_launch_each_auth_method_shows_chart(stack, tenant):
    resp = stack.launch(tenant)
    assert resp.status_code == 200, resp.text
    assert patient_name(stack) in resp.text
    assert 'id="problems"' in resp.text and 'id="labs"' in resp.text and 'id="notes"' in resp.text
    assert "Not available" not in resp.text
    session = stack.store.get("session", session_id(resp))
    flavour, client_id, auth, _ = TENANTS[tenant]
    assert session["patient"] == PATIENT and session["iss"] == stack.iss(tenant)
    assert session["fhir_user"] and "/Practitioner/" in session["fhir_user"]


def test_authorize_request_is_smart_compliant(stack):
    browser = new_browser()
    resp = browser.get(stack.mint("epic"), follow_redirects=False)
    params = parse_qs(urlsplit(resp.headers["location"]).query)
    assert params["code_challenge_method"] == ["S256"] and len(params["code_challenge"][0]) == 43
    assert params["aud"] == [stack.iss("epic")] and params["response_type"] == ["code"]
    assert len(params["state"][0]) >= 32 and "launch" in params


def test_tokens_never_reach_the_browser(stack):
    browser = new_browser()
    resp = stack.launch("epic", browser=browser)
    session = stack.store.get("session", session_id(resp))
    for secret in (session["access_token"], session.get("refresh_token")):
        if secret:
            assert secret not in resp.text and secret not in str(resp.url)
            assert all(secret not in v for v in browser.cookies.values())
    assert all(k == "radar_browser" or k.startswith("radar_c_") for k in browser.cookies.keys())


def test_epic_banner_string_false_hides_banner_cerner_shows_it(stack):
    epic = stack.launch("epic")
    cerner = stack.launch("cerner")
    assert 'class="banner"' not in epic.text
    assert 'class="banner"' in cerner.text


def test_standalone_launch(stack):
    browser = new_browser()
    resp = browser.get(f"{stack.app_url}/standalone", params={"iss": stack.iss("cerner")})
    assert resp.status_code == 200
    assert "data-patient-id" in resp.text  # the sandbox's patient picker
    link = next(part.split('"')[1] for part in resp.text.split("href=")[1:] if f"patient={PATIENT}" in part
                or f"sandbox_patient={PATIENT}" in part or f"/{PATIENT}" in part)
    chart = browser.get(httpx.URL(str(resp.url)).join(link.replace("&amp;", "&")))
    assert chart.status_code == 200, chart.text
    assert patient_name(stack) in chart.text
    params = stack.store.get("session", session_id(chart))
    assert params["patient"] == PATIENT


def test_standalone_without_iss_lists_registered_ehrs(stack):
    resp = httpx.get(f"{stack.app_url}/standalone")
    assert resp.status_code == 200
    for tenant in TENANTS:
        assert f"{tenant} sandbox" in resp.text


def test_unknown_iss_is_refused_without_redirect(stack):
    resp = httpx.get(f"{stack.app_url}/launch", params={"iss": "https://evil.example/fhir", "launch": "x"})
    assert resp.status_code == 400
    assert "not registered" in resp.text and "location" not in resp.headers


def test_oversized_launch_parameters_refused(stack):
    resp = httpx.get(f"{stack.app_url}/launch", params={"iss": stack.iss("epic"), "launch": "x" * 10_000})
    assert resp.status_code == 400 and "malformed" in resp.text and "location" not in resp.headers


def test_missing_launch_parameters(stack):
    resp = httpx.get(f"{stack.app_url}/launch", params={"iss": stack.iss("epic")})
    assert resp.status_code == 400 and "Launch RaDaR from the patient" in resp.text


def test_missing_state(stack):
    browser = new_browser()
    callback = start(stack, browser)
    code = parse_qs(urlsplit(callback).query)["code"][0]
    resp = browser.get(f"{stack.app_url}/callback", params={"code": code})
    assert resp.status_code == 400 and "no state" in resp.text


def test_wrong_state(stack):
    browser = new_browser()
    callback = start(stack, browser)
    code = parse_qs(urlsplit(callback).query)["code"][0]
    resp = browser.get(f"{stack.app_url}/callback", params={"code": code, "state": "forged-state-value"})
    assert resp.status_code == 400 and "expired" in resp.text


def test_state_is_single_use(stack):
    browser = new_browser()
    callback = start(stack, browser)
    assert browser.get(callback).status_code == 200
    again = browser.get(callback)
    assert again.status_code == 400 and "already used" in again.text


def test_state_bound_to_the_browser(stack):
    one, other = new_browser(), new_browser()
    callback = start(stack, one)
    other.cookies.set("radar_browser", "1")  # keeps cookies, but not this launch's
    resp = other.get(callback)
    assert resp.status_code == 400 and "another browser" in resp.text


def test_wrong_pkce_verifier_is_refused(stack):
    browser = new_browser()
    first = parse_qs(urlsplit(start(stack, browser)).query)
    second = parse_qs(urlsplit(start(stack, browser)).query)
    # Code of launch 1 presented with the state (and so the PKCE verifier) of launch 2.
    resp = browser.get(f"{stack.app_url}/callback?" + urlencode({"code": first["code"][0], "state": second["state"][0]}))
    assert resp.status_code == 400 and "refused" in resp.text


def test_reused_code_is_refused(stack):
    browser = new_browser()
    first = parse_qs(urlsplit(start(stack, browser)).query)
    assert browser.get(f"{stack.app_url}/callback?" + urlencode({k: v[0] for k, v in first.items()})).status_code == 200
    second = parse_qs(urlsplit(start(stack, browser)).query)
    resp = browser.get(f"{stack.app_url}/callback?" + urlencode({"code": first["code"][0], "state": second["state"][0]}))
    assert resp.status_code == 400 and "refused" in resp.text


def test_reused_launch_value_is_refused(stack):
    url = stack.mint("epic")
    assert new_browser().get(url).status_code == 200
    resp = new_browser().get(url)
    assert resp.status_code == 400 and "did not sign RaDaR in" in resp.text


def authorize_error(stack, **params) -> httpx.Response:
    """The EHR's authorize step answering with an error (``params``) to a launch of this browser."""
    browser = new_browser()
    resp = browser.get(stack.mint("epic"), follow_redirects=False)
    state = parse_qs(urlsplit(resp.headers["location"]).query)["state"][0]
    return browser.get(f"{stack.app_url}/callback", params={"state": state, "error": "access_denied", **params})


def test_authorize_error_is_shown_escaped(stack):
    resp = authorize_error(stack, error_description="<script>alert(1)</script>", error_uri="javascript:alert(1)")
    assert resp.status_code == 400 and "access_denied" in resp.text
    assert "<script>alert(1)" not in resp.text and "javascript:" not in resp.text


def test_error_uri_is_never_a_link(stack):
    # Anyone can craft a callback URL: an https error_uri would be a phishing link on our page.
    resp = authorize_error(stack, error_uri="https://evil.example/login")
    assert resp.status_code == 400 and "evil.example" not in resp.text


def test_expired_token_is_refreshed(stack):
    browser = new_browser()
    resp = stack.launch("epic", browser=browser)
    sid = session_id(resp)
    before = stack.store.get("session", sid)["access_token"]
    stack.control("POST", "tokens/expire", json={"tenant": "epic"})
    again = browser.get(str(resp.url))
    assert again.status_code == 200 and "Not available" not in again.text
    assert stack.store.get("session", sid)["access_token"] != before


def test_refresh_ahead_of_expiry(stack):
    browser = new_browser()
    resp = stack.launch("cerner", browser=browser)
    sid = session_id(resp)
    session = stack.store.get("session", sid)
    session["expires_at"] = 0  # as if the 570 s had passed
    stack.store.replace("session", sid, session)
    assert browser.get(str(resp.url)).status_code == 200
    assert stack.store.get("session", sid)["expires_at"] > 0


def test_cerner_refresh_keeps_the_original_refresh_token(stack):
    browser = new_browser()
    resp = stack.launch("cerner", browser=browser)
    sid = session_id(resp)
    original = stack.store.get("session", sid)["refresh_token"]
    assert original
    for _ in range(2):
        stack.control("POST", "tokens/expire", json={"tenant": "cerner"})
        assert browser.get(str(resp.url)).status_code == 200
    assert stack.store.get("session", sid)["refresh_token"] == original


def test_epic_refresh_rotates_the_refresh_token(stack):
    browser = new_browser()
    resp = stack.launch("epic", browser=browser)
    sid = session_id(resp)
    original = stack.store.get("session", sid)["refresh_token"]
    stack.control("POST", "tokens/expire", json={"tenant": "epic"})
    assert browser.get(str(resp.url)).status_code == 200
    assert stack.store.get("session", sid)["refresh_token"] not in (None, original)


def test_failed_refresh_asks_for_relaunch(stack):
    browser = new_browser()
    resp = stack.launch("epic-post", browser=browser)
    stack.control("POST", "tokens/revoke", json={"tenant": "epic-post"})
    again = browser.get(str(resp.url))
    assert again.status_code == 401 and "relaunch" in again.text.lower()


def test_two_launches_in_one_browser_do_not_collide(stack):
    patients = stack.control("GET", "patients").json()
    ids = [p["id"] for p in patients if p["tenant"] == "epic" and p["id"].startswith("rd-")][:2]
    browser = new_browser()
    with ThreadPoolExecutor(2) as pool:
        pages = list(pool.map(lambda p: stack.launch("epic", p, browser=browser), ids))
    names = [patient_name(stack, p) for p in ids]
    for page, name, other in zip(pages, names, reversed(names), strict=False):
        assert page.status_code == 200 and name in page.text and other not in page.text
    assert session_id(pages[0]) != session_id(pages[1])
    # Each tab keeps its own patient on reload.
    for page, name in zip(pages, names, strict=False):
        assert name in browser.get(str(page.url)).text


def test_session_of_another_browser_is_refused(stack):
    resp = stack.launch("epic")
    stranger = new_browser()
    stranger.cookies.set("radar_browser", "1")  # a browser that keeps cookies, but not this session's
    assert stranger.get(str(resp.url)).status_code == 401


def test_unknown_session_asks_for_relaunch(stack):
    resp = httpx.get(f"{stack.app_url}/s/nope/chart")
    assert resp.status_code == 401 and "relaunch" in resp.text.lower()


def test_csrf_required_to_sign_out(stack):
    browser = new_browser()
    resp = stack.launch("epic", browser=browser)
    sid = session_id(resp)
    end = f"{stack.app_url}/s/{sid}/end"
    assert browser.post(end).status_code == 403
    assert browser.post(end, headers={"X-CSRF-Token": "wrong"}).status_code == 403
    assert stack.store.get("session", sid) is not None
    csrf = stack.store.get("session", sid)["csrf"]
    assert browser.post(end, headers={"X-CSRF-Token": csrf}).status_code == 200
    assert stack.store.get("session", sid) is None


def test_sign_out_forgets_everything_derived_from_the_record(stack):
    browser = new_browser()
    resp = stack.launch("epic", browser=browser)
    sid = session_id(resp)
    csrf = stack.store.get("session", sid)["csrf"]
    assert browser.post(f"{stack.app_url}/s/{sid}/phenotypes/add", data={"hpo": "HP:0001250"},
                        headers={"X-CSRF-Token": csrf}).status_code == 200
    stack.store.add_member("session-cases", sid, "c" * 32, 60)
    kinds = ("session", "profile", "narrative", "edits", "session-cases")
    assert all(stack.store.exists(kind, sid) for kind in kinds)
    assert browser.post(f"{stack.app_url}/s/{sid}/end", headers={"X-CSRF-Token": csrf}).status_code == 200
    assert not any(stack.store.exists(kind, sid) for kind in kinds)


def test_each_chart_read_is_audited(stack):
    before = len(audit.events(stack.store))
    resp = stack.launch("epic")
    events = audit.events(stack.store)[before:]
    assert len(events) == 1
    event = events[0]
    assert event["patient"] == PATIENT and event["iss"] == stack.iss("epic") and event["outcome"] == "success"
    assert "/Practitioner/" in event["user"]
    assert set(event["resource_types"].split(",")) >= {"Patient", "Condition", "Observation", "DocumentReference"}
    assert resp.status_code == 200


def test_audit_carries_a_hashed_session_and_the_client_address(stack):
    browser = new_browser()
    before = len(audit.events(stack.store))
    resp = stack.launch("epic", browser=browser)
    sid = session_id(resp)
    [event] = audit.events(stack.store)[before:]
    assert event["session"] == audit.session_ref(sid) and sid not in str(event)
    assert event["client"] == "127.0.0.1"
    csrf = stack.store.get("session", sid)["csrf"]
    browser.post(f"{stack.app_url}/s/{sid}/phenotypes/add", data={"hpo": "HP:0001250"}, headers={"X-CSRF-Token": csrf})
    view = audit.events(stack.store)[-1]
    assert view["event"] == "patient-data-view" and view["what"] == "phenotype-profile"
    assert view["patient"] == PATIENT and view["session"] == audit.session_ref(sid)


def test_application_log_has_no_phi_or_tokens(stack, caplog):
    caplog.set_level(logging.DEBUG)
    browser = new_browser()
    resp = stack.launch("cerner", browser=browser)
    sid = session_id(resp)
    session = stack.store.get("session", sid)
    # Everything but the sandbox EHR (its authlib server included) and the test servers is the app.
    logged = "\n".join(r.getMessage() for r in caplog.records if not r.name.startswith(("werkzeug", "launch", "authlib")))
    assert "launch complete" in logged
    name = patient_name(stack)
    for secret in [*name.split(), session["access_token"], sid, PATIENT]:
        assert secret not in logged


def test_cookie_and_security_headers(stack):
    browser = new_browser()
    resp = browser.get(stack.mint("epic"), follow_redirects=False)
    cookie = resp.headers["set-cookie"]
    assert "radar_browser=" in cookie and "HttpOnly" in cookie
    chart = stack.launch("epic", browser=browser)
    assert "frame-ancestors" in chart.headers["content-security-policy"]
    assert chart.headers["referrer-policy"] == "no-referrer" and chart.headers["cache-control"] == "no-store"


def test_jwks_serves_public_keys_only(stack):
    keys = httpx.get(f"{stack.app_url}/.well-known/jwks.json").json()["keys"]
    assert {k["alg"] for k in keys} == {"RS384", "ES384"}
    assert all("d" not in k for k in keys)


def test_ehr_style_applied_with_csp_nonce(stack):
    resp = stack.launch("epic")
    style = httpx.get(f"{stack.sandbox_url}/epic/style.json").json()
    nonce = re.search(r"style-src 'self' 'nonce-([^']+)'", resp.headers["content-security-policy"]).group(1)
    block = re.search(r'<style nonce="([^"]+)">(.*?)</style>', resp.text, re.S)
    assert block and block.group(1) == nonce
    assert f"--highlight: {style['color_highlight']}" in block.group(2)
