"""CDS Hooks client-JWT verification against a JWKS served over real HTTP and a real (embedded) Redis."""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
import uuid

import httpx
import pytest
from flask import Flask, abort, jsonify
from joserfc import jwt
from joserfc.jwk import ECKey, KeySet, RSAKey

from app.cds import auth as cds_auth
from app.cds.auth import CdsAuthError, verify
from app.config import ConfigError
from app.config.cds import CdsClient, parse_clients
from app.store import connect
from tests.servers import serve

AUD = "https://radar.example/cds-services/radar-patient-view"
SANDBOX_ISS = "https://sandbox.cds-hooks.org"
EPIC_ISS = "https://fhir.hospital.example/interconnect-fhir-oauth/api/FHIR/R4"
SANDBOX_PATH = "/sandbox/.well-known/jwks.json"
EPIC_PATH = "/epic/api/epic/2019/Security/Open/PublicKeys/530013/530013"


class JwksServer:
    """A Flask app serving mutable JWK Sets per path and counting the GETs."""

    def __init__(self):
        self.docs: dict[str, dict] = {}
        self.cache_control: dict[str, str] = {}
        self.hits: dict[str, int] = {}
        self._lock = threading.Lock()
        app = Flask(__name__)

        @app.get("/<path:path>")
        def jwks(path):
            path = "/" + path
            with self._lock:
                self.hits[path] = self.hits.get(path, 0) + 1
            if path not in self.docs:
                abort(404)
            resp = jsonify(self.docs[path])
            if path in self.cache_control:
                resp.headers["Cache-Control"] = self.cache_control[path]
            return resp

        self.served = serve(app)

    @property
    def url(self) -> str:
        return self.served.url

    def publish(self, path: str, *keys) -> None:
        self.docs[path] = KeySet(list(keys)).as_dict(private=False)

    def reset(self) -> None:
        self.docs.clear()
        self.cache_control.clear()
        self.hits.clear()


def es_key(kid: str | None = None) -> ECKey:
    return ECKey.generate_key("P-384", parameters={"kid": kid or f"es-{uuid.uuid4()}", "alg": "ES384", "use": "sig"},
                              private=True)


def rs_key(kid: str | None = None, alg: str = "RS384") -> RSAKey:
    return RSAKey.generate_key(2048, parameters={"kid": kid or f"rs-{uuid.uuid4()}", "alg": alg, "use": "sig"},
                               private=True)


ES = es_key("44823f3d-0b01-4a6c-a14b-b3a2d0f6f1a1")
RS = rs_key("epic-530013")


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return connect(None, tmp_path_factory.mktemp("redis"))


@pytest.fixture(scope="module")
def server():
    s = JwksServer()
    yield s
    s.served.stop()


@pytest.fixture
def http():
    with httpx.Client() as client:
        yield client


@pytest.fixture(autouse=True)
def fresh(store, server):
    """Each test starts with no cached JWKS, no replay records and the two standard key sets."""
    store.redis.flushdb()
    cds_auth._parsed.clear()
    server.reset()
    server.publish(SANDBOX_PATH, ES)
    server.publish(EPIC_PATH, RS)


@pytest.fixture
def clients(server):
    return [CdsClient(SANDBOX_ISS, server.url + SANDBOX_PATH), CdsClient(EPIC_ISS, server.url + EPIC_PATH)]


def sandbox_token(server, key=ES, header=None, drop=(), **claims) -> str:
    """Like the CDS Hooks Sandbox: ES384, iss sandbox, jku = its JWKS, exp +300 s."""
    now = int(time.time())
    body = {"iss": SANDBOX_ISS, "aud": AUD, "exp": now + 300, "iat": now, "jti": str(uuid.uuid4()), **claims}
    head = {"alg": "ES384", "typ": "JWT", "kid": key.kid, "jku": server.url + SANDBOX_PATH, **(header or {})}
    for name in drop:
        body.pop(name, None)
        head.pop(name, None)
    return jwt.encode(head, body, key, algorithms=[head["alg"]])


def epic_token(server, key=RS, header=None, **claims) -> str:
    """Like Epic: RS384, iss = the org's FHIR base, sub = client id, nbf = iat - 5 min, jku = PublicKeys."""
    now = int(time.time())
    body = {"iss": EPIC_ISS, "sub": "d45049c3-3441-40ef-ab4d-b9cd86a17225", "aud": AUD, "nbf": now - 300,
            "iat": now, "exp": now + 300, "jti": str(uuid.uuid4()), **claims}
    head = {"alg": "RS384", "typ": "JWT", "kid": key.kid, "jku": server.url + EPIC_PATH, **(header or {})}
    return jwt.encode(head, body, key, algorithms=[head["alg"]])


def b64(data: bytes | dict) -> str:
    if isinstance(data, dict):
        data = json.dumps(data).encode()
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def check(token, store, http, clients, **kwargs) -> dict:
    return verify(token, audience=AUD, clients=clients, store=store, http=http, **kwargs)


def rejected(token, store, http, clients, **kwargs) -> str:
    with pytest.raises(CdsAuthError) as err:
        check(token, store, http, clients, **kwargs)
    return str(err.value)


# --- accepted --------------------------------------------------------------------------------

def test_sandbox_style_accepted(server, store, http, clients):
    claims = check(sandbox_token(server), store, http, clients)
    assert claims["iss"] == SANDBOX_ISS and claims["aud"] == AUD


def test_epic_style_accepted(server, store, http, clients):
    claims = check(epic_token(server), store, http, clients)
    assert claims["iss"] == EPIC_ISS and claims["sub"].startswith("d45049c3")


def test_aud_as_array(server, store, http, clients):
    assert check(sandbox_token(server, aud=["https://other.example/x", AUD]), store, http, clients)


def test_no_jku_and_trailing_slash_iss(server, store, http, clients):
    token = sandbox_token(server, drop=("jku",), iss=SANDBOX_ISS + "/")
    assert check(token, store, http, clients)["iss"] == SANDBOX_ISS + "/"


def test_within_leeway(server, store, http, clients):
    now = time.time()
    token = sandbox_token(server, iat=int(now) + 30, exp=int(now) + 300)
    assert check(token, store, http, clients)
    token = sandbox_token(server, iat=int(now) - 330, exp=int(now) - 30)
    assert check(token, store, http, clients)


# --- rejected --------------------------------------------------------------------------------

@pytest.mark.parametrize("token", [None, ""])
def test_missing_token(token, store, http, clients):
    assert rejected(token, store, http, clients) == "token_missing"


@pytest.mark.parametrize("token", ["not-a-jwt", "a.b.c", "a.b", "é.é.é", "e30.e30.", b64(b"[]") + ".e30.x"])
def test_not_a_jwt(token, store, http, clients):
    assert rejected(token, store, http, clients) == "token_malformed"


def test_alg_none(server, store, http, clients):
    now = int(time.time())
    body = {"iss": SANDBOX_ISS, "aud": AUD, "exp": now + 300, "iat": now, "jti": "n1"}
    token = f"{b64({'alg': 'none', 'typ': 'JWT', 'kid': ES.kid})}.{b64(body)}."
    assert rejected(token, store, http, clients) == "alg_not_allowed"


def test_hs256_with_public_key_as_secret(server, store, http, clients):
    # The classic confusion attack: HMAC keyed with the bytes of the public key the verifier holds.
    now = int(time.time())
    body = {"iss": EPIC_ISS, "aud": AUD, "exp": now + 300, "iat": now, "jti": "h1"}
    signing_input = f"{b64({'alg': 'HS256', 'typ': 'JWT', 'kid': RS.kid})}.{b64(body)}"
    for secret in (RS.as_pem(private=False), json.dumps(RS.as_dict(private=False)).encode()):
        sig = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
        assert rejected(f"{signing_input}.{b64(sig)}", store, http, clients) == "alg_not_allowed"


def test_rs256_rejected(server, store, http, clients):
    key = rs_key("rs256-key", alg="RS256")
    server.publish(EPIC_PATH, RS, key)
    assert rejected(epic_token(server, key=key, header={"alg": "RS256"}), store, http, clients) == "alg_not_allowed"


def test_unknown_iss(server, store, http, clients):
    assert rejected(sandbox_token(server, iss="https://evil.example"), store, http, clients) == "iss_unknown"
    assert rejected(sandbox_token(server, drop=("iss",)), store, http, clients) == "iss_missing"


def test_jku_not_registered(server, store, http, clients):
    # Even a jku on the same server, serving the same keys, must match the registration exactly.
    server.publish("/elsewhere/jwks.json", ES)
    token = sandbox_token(server, header={"jku": server.url + "/elsewhere/jwks.json"})
    assert rejected(token, store, http, clients) == "jku_not_registered"
    assert server.hits.get("/elsewhere/jwks.json") is None


def test_header_rules(server, store, http, clients):
    assert rejected(sandbox_token(server, drop=("kid",)), store, http, clients) == "kid_missing"
    assert rejected(sandbox_token(server, header={"typ": "at+jwt"}), store, http, clients) == "typ_not_jwt"
    assert check(sandbox_token(server, drop=("typ",)), store, http, clients)


def test_unknown_kid_after_one_refetch(server, store, http, clients):
    assert check(sandbox_token(server), store, http, clients)
    assert server.hits[SANDBOX_PATH] == 1
    stranger = es_key("not-published")
    assert rejected(sandbox_token(server, key=stranger), store, http, clients) == "kid_unknown"
    assert server.hits[SANDBOX_PATH] == 2
    # A second unknown kid within the minute does not fetch again.
    assert rejected(sandbox_token(server, key=es_key("also-unknown")), store, http, clients) == "kid_unknown"
    assert server.hits[SANDBOX_PATH] == 2


def test_key_rotation(server, store, http, clients):
    assert check(sandbox_token(server), store, http, clients)
    new = es_key("rotated-2025")
    server.publish(SANDBOX_PATH, ES, new)
    assert check(sandbox_token(server, key=new), store, http, clients)
    assert server.hits[SANDBOX_PATH] == 2
    # The refetched set replaced the cached one: both keys work with no more fetches.
    assert check(sandbox_token(server), store, http, clients)
    assert check(sandbox_token(server, key=new), store, http, clients)
    assert server.hits[SANDBOX_PATH] == 2


def test_wrong_signature_same_kid(server, store, http, clients):
    impostor = es_key(ES.kid)
    assert rejected(sandbox_token(server, key=impostor), store, http, clients) == "bad_signature"
    impostor = rs_key(RS.kid)
    assert rejected(epic_token(server, key=impostor), store, http, clients) == "bad_signature"


def test_key_alg_must_match_header(server, store, http, clients):
    # An RSA key published for RS384 cannot verify a token that claims ES384 under its kid.
    token = sandbox_token(server, key=ES, header={"kid": RS.kid, "jku": server.url + EPIC_PATH}, iss=EPIC_ISS)
    assert rejected(token, store, http, clients) == "key_alg_mismatch"


def test_wrong_aud(server, store, http, clients):
    assert rejected(sandbox_token(server, aud=AUD + "/feedback"), store, http, clients) == "aud_mismatch"
    assert rejected(sandbox_token(server, aud=["https://other.example"]), store, http, clients) == "aud_mismatch"
    assert rejected(sandbox_token(server, drop=("aud",)), store, http, clients) == "aud_missing"


def test_expired(server, store, http, clients):
    now = int(time.time())
    assert rejected(sandbox_token(server, iat=now - 400, exp=now - 61), store, http, clients) == "expired"


def test_iat_in_future(server, store, http, clients):
    now = int(time.time())
    assert rejected(sandbox_token(server, iat=now + 120, exp=now + 400), store, http, clients) == "iat_in_future"


def test_nbf_respected(server, store, http, clients):
    now = int(time.time())
    assert rejected(epic_token(server, nbf=now + 120), store, http, clients) == "not_yet_valid"


def test_lifetime_capped_at_one_hour(server, store, http, clients):
    now = int(time.time())
    assert rejected(sandbox_token(server, iat=now, exp=now + 3601), store, http, clients) == "lifetime_too_long"
    assert check(sandbox_token(server, iat=now, exp=now + 3600), store, http, clients)


def test_missing_jti_exp_iat(server, store, http, clients):
    assert rejected(sandbox_token(server, drop=("jti",)), store, http, clients) == "jti_missing"
    assert rejected(sandbox_token(server, drop=("exp",)), store, http, clients) == "exp_missing"
    assert rejected(sandbox_token(server, drop=("iat",)), store, http, clients) == "iat_missing"
    assert rejected(sandbox_token(server, exp="soon"), store, http, clients) == "exp_invalid"
    assert rejected(sandbox_token(server, jti=""), store, http, clients) == "jti_missing"


def test_replayed_jti(server, store, http, clients):
    token = epic_token(server)
    assert check(token, store, http, clients)
    assert rejected(token, store, http, clients) == "jti_replayed"
    # The replay record lasts until the token could no longer pass the exp check.
    jti_keys = store.redis.keys("radar:cds-jti:*")
    assert len(jti_keys) == 1 and 300 < store.redis.ttl(jti_keys[0]) <= 360


def test_same_jti_from_different_issuers(server, store, http, clients):
    assert check(sandbox_token(server, jti="shared"), store, http, clients)
    assert check(epic_token(server, jti="shared"), store, http, clients)


def test_jwks_unreachable(server, store, http, clients):
    dead = [CdsClient(SANDBOX_ISS, "http://127.0.0.1:9/jwks.json")]
    token = sandbox_token(server, header={"jku": "http://127.0.0.1:9/jwks.json"})
    assert rejected(token, store, http, dead) == "jwks_unavailable"


def test_jwks_not_found_or_invalid(server, store, http, clients):
    server.docs.pop(SANDBOX_PATH)
    assert rejected(sandbox_token(server), store, http, clients) == "jwks_unavailable"
    # Right after a failure, callers fail fast instead of each waiting on the key server.
    assert rejected(sandbox_token(server), store, http, clients) == "jwks_unavailable"
    assert server.hits[SANDBOX_PATH] == 1
    store.redis.flushdb()
    server.docs[SANDBOX_PATH] = {"no": "keys"}
    assert rejected(sandbox_token(server), store, http, clients) == "jwks_unavailable"
    assert store.get_text(cds_auth.JWKS, server.url + SANDBOX_PATH) is None


def test_jwks_fetched_once_for_many_calls(server, store, http, clients):
    for _ in range(50):
        assert check(sandbox_token(server), store, http, clients)
        assert check(epic_token(server), store, http, clients)
    assert server.hits == {SANDBOX_PATH: 1, EPIC_PATH: 1}
    # A worker with a cold memory cache uses the document in Redis, still without fetching.
    cds_auth._parsed.clear()
    assert check(sandbox_token(server), store, http, clients)
    assert server.hits == {SANDBOX_PATH: 1, EPIC_PATH: 1}


def test_concurrent_cold_start(server, store, http, clients):
    tokens = [sandbox_token(server) if i % 2 else epic_token(server) for i in range(20)]
    results: list = [None] * len(tokens)

    def run(i):
        try:
            results[i] = check(tokens[i], store, http, clients)["jti"]
        except CdsAuthError as exc:
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(tokens))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert all(isinstance(r, str) for r in results), results
    assert server.hits == {SANDBOX_PATH: 1, EPIC_PATH: 1}


@pytest.mark.parametrize("header,ttl", [(None, 3600), ("public, max-age=600", 600), ("max-age=5", 60),
                                        ("max-age=999999", 86400), ("no-cache", 3600)])
def test_jwks_cache_ttl(header, ttl, server, store, http, clients):
    if header:
        server.cache_control[SANDBOX_PATH] = header
    assert check(sandbox_token(server), store, http, clients)
    assert ttl - 2 <= store.ttl(cds_auth.JWKS, server.url + SANDBOX_PATH) <= ttl


def test_jwks_with_foreign_keys_still_usable(server, store, http, clients):
    # Encryption keys and keys of other types in the set are skipped, not fatal.
    doc = KeySet([ES]).as_dict(private=False)
    doc["keys"] += [{"kty": "OKP", "crv": "Ed25519", "x": b64(b"\0" * 32), "kid": "ed"},
                    {**RS.as_dict(private=False), "kid": "enc", "use": "enc"}]
    server.docs[SANDBOX_PATH] = doc
    assert check(sandbox_token(server), store, http, clients)


def test_now_parameter(server, store, http, clients):
    token = sandbox_token(server)
    assert rejected(token, store, http, clients, now=time.time() + 3600) == "expired"


def test_log_never_contains_token(server, store, http, clients, caplog):
    token = sandbox_token(server, aud="https://wrong.example")
    with caplog.at_level("WARNING", logger="radar.cds_auth"):
        rejected(token, store, http, clients)
    assert "aud_mismatch" in caplog.text and SANDBOX_ISS in caplog.text
    assert token not in caplog.text and token.split(".")[2] not in caplog.text


# --- parse_clients ---------------------------------------------------------------------------

def test_parse_clients_ok():
    raw = json.dumps([{"iss": "https://sandbox.cds-hooks.org/", "jwks_url": "https://sandbox.cds-hooks.org/.well-known/jwks.json"}])
    assert parse_clients(raw) == [CdsClient("https://sandbox.cds-hooks.org", "https://sandbox.cds-hooks.org/.well-known/jwks.json")]
    assert parse_clients("") == [] and parse_clients(None) == [] and parse_clients("  ") == []


@pytest.mark.parametrize("raw,message", [
    ("{", "RADAR_CDS_CLIENTS: not valid JSON"),
    ('{"iss": "https://a.example"}', "RADAR_CDS_CLIENTS: must be a JSON list"),
    ('["x"]', "RADAR_CDS_CLIENTS[0]: must be an object"),
    ('[{"iss": "https://a.example"}]', "RADAR_CDS_CLIENTS[0].jwks_url: required"),
    ('[{"iss": "https://a.example", "jwks_url": "ftp://a.example/k"}]',
     "RADAR_CDS_CLIENTS[0].jwks_url: 'ftp://a.example/k' is not"),
    ('[{"iss": "https://a.example", "jwks_url": "https://a.example/k"}, {"iss": "", "jwks_url": "https://b.example/k"}]',
     "RADAR_CDS_CLIENTS[1].iss: required"),
    ('[{"iss": "a.example", "jwks_url": "https://a.example/k"}]', "RADAR_CDS_CLIENTS[0].iss: 'a.example' is not"),
    ('[{"iss": "https://a.example", "jwks_url": "https://a.example/k", "alg": "RS384"}]',
     "RADAR_CDS_CLIENTS[0]: unknown field(s) alg"),
    ('[{"iss": "https://a.example", "jwks_url": "https://a.example/k"}, {"iss": "https://a.example/", "jwks_url": "https://a.example/j"}]',
     "RADAR_CDS_CLIENTS[1].iss: https://a.example is registered twice"),
])
def test_parse_clients_invalid(raw, message):
    with pytest.raises(ConfigError) as err:
        parse_clients(raw)
    assert str(err.value).startswith(message)


# --- keys pinned per client: inline jwks, registered jku values ------------------------------

def inline(*keys) -> str:
    return json.dumps(KeySet(list(keys)).as_dict(private=False), sort_keys=True)


def test_inline_jwks_needs_no_fetch(server, store, http):
    pinned = [CdsClient(SANDBOX_ISS, jwks=inline(ES))]
    assert check(sandbox_token(server, drop=("jku",)), store, http, pinned)["iss"] == SANDBOX_ISS
    assert server.hits == {}


def test_inline_jwks_with_a_registered_jku_label(server, store, http):
    label = "https://sandbox.cds-hooks.org/.well-known/jwks.json"
    pinned = [CdsClient(SANDBOX_ISS, jwks=inline(ES), jku=(label,))]
    assert check(sandbox_token(server, header={"jku": label}), store, http, pinned)
    # The jku only labels the pinned keys: nothing is fetched, not even the token's own URL.
    assert check(sandbox_token(server), store, http, [CdsClient(SANDBOX_ISS, jwks=inline(ES),
                                                                jku=(server.url + SANDBOX_PATH,))])
    assert server.hits == {}


def test_inline_jwks_refuses_an_unlisted_jku(server, store, http):
    pinned = [CdsClient(SANDBOX_ISS, jwks=inline(ES), jku=("https://sandbox.cds-hooks.org/.well-known/jwks.json",))]
    assert rejected(sandbox_token(server), store, http, pinned) == "jku_not_registered"
    assert server.hits == {}


def test_inline_jwks_unknown_kid_is_not_refetched(server, store, http):
    pinned = [CdsClient(SANDBOX_ISS, jwks=inline(ES))]
    assert rejected(sandbox_token(server, key=es_key("other"), drop=("jku",)), store, http, pinned) == "kid_unknown"
    assert server.hits == {}


def test_listed_jku_is_fetched_as_the_clients_key_url(server, store, http):
    server.publish("/rotated/jwks.json", ES)
    listed = [CdsClient(SANDBOX_ISS, server.url + SANDBOX_PATH, jku=(server.url + "/rotated/jwks.json",))]
    token = sandbox_token(server, header={"jku": server.url + "/rotated/jwks.json"})
    assert check(token, store, http, listed)
    assert server.hits == {"/rotated/jwks.json": 1}
    # The registered jwks_url stays accepted as a jku, and without a jku it is the one fetched.
    assert check(sandbox_token(server), store, http, listed)
    assert check(sandbox_token(server, drop=("jku",)), store, http, listed)
    assert server.hits == {"/rotated/jwks.json": 1, SANDBOX_PATH: 1}


def test_jku_of_another_client_is_not_accepted(server, store, http, clients):
    # Epic's registered key URL is not the sandbox client's: naming it must not select Epic's keys.
    token = sandbox_token(server, header={"jku": server.url + EPIC_PATH})
    assert rejected(token, store, http, clients) == "jku_not_registered"
    assert server.hits == {}


def test_parse_clients_inline_jwks_jku_and_fhir_servers():
    public = KeySet([ES]).as_dict(private=False)
    raw = json.dumps([{"iss": "https://sandbox.cds-hooks.org", "jwks": public,
                       "jku": ["https://sandbox.cds-hooks.org/.well-known/jwks.json"],
                       "fhir_servers": ["https://fhir.example/r4/", "https://fhir.example/r4"]},
                      {"iss": "https://cds-hooks.cerner.com", "jwks_url": "https://authorization.cerner.com/jwk"}])
    sandbox, cerner = parse_clients(raw)
    assert sandbox.jwks_url is None and json.loads(sandbox.jwks)["keys"][0]["kid"] == ES.kid
    assert sandbox.jku == ("https://sandbox.cds-hooks.org/.well-known/jwks.json",)
    assert sandbox.fhir_servers == ("https://fhir.example/r4",)
    assert cerner.jwks is None and cerner.jku == () and cerner.fhir_servers is None
    assert parse_clients(json.dumps([{"iss": "https://a.example", "jwks_url": "https://a.example/k",
                                      "fhir_servers": []}]))[0].fhir_servers == ()


@pytest.mark.parametrize("entry,message", [
    ({"jwks_url": "https://a.example/k", "jwks": {"keys": []}}, "RADAR_CDS_CLIENTS[0]: give jwks_url or jwks, not both"),
    ({"jwks": {"keys": []}}, "RADAR_CDS_CLIENTS[0].jwks: must be a JWK Set with at least one"),
    ({"jwks": "not an object"}, "RADAR_CDS_CLIENTS[0].jwks: must be a JWK Set"),
    ({"jwks": {"keys": [{"kty": "EC"}]}}, "RADAR_CDS_CLIENTS[0].jwks: not a valid JWK Set"),
    ({"jwks": KeySet([ES]).as_dict(private=True)}, "RADAR_CDS_CLIENTS[0].jwks: key "),
    ({"jwks_url": "https://a.example/k", "jku": "https://a.example/k"}, "RADAR_CDS_CLIENTS[0].jku: must be a list"),
    ({"jwks_url": "https://a.example/k", "jku": ["a.example/k"]}, "RADAR_CDS_CLIENTS[0].jku[0]: 'a.example/k' is not"),
    ({"jwks_url": "https://a.example/k", "fhir_servers": "https://f.example"},
     "RADAR_CDS_CLIENTS[0].fhir_servers: must be a list"),
    ({"jwks_url": "https://a.example/k", "fhir_servers": ["ftp://f.example"]},
     "RADAR_CDS_CLIENTS[0].fhir_servers[0]: 'ftp://f.example' is not"),
])
def test_parse_clients_invalid_pinning(entry, message):
    with pytest.raises(ConfigError) as err:
        parse_clients(json.dumps([{"iss": "https://a.example", **entry}]))
    assert str(err.value).startswith(message)
