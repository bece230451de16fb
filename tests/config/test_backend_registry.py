"""The registry's Backend Services fields: backend_client_id, backend_scopes and their defaults."""
import json

import pytest

from app.config import ConfigError, load_settings
from app.config.ehrs import BACKEND_SCOPES, BACKEND_SCOPES_V1
from app.smart.keys import generate_keys

ISS = "https://ehr.example.org/fhir"
KEYS = json.dumps(generate_keys().as_dict(private=True))
V1 = "launch openid fhirUser patient/Patient.read patient/Condition.read"


def load(entry: dict, keys: str | None = KEYS):
    env = {"RADAR_EHRS": json.dumps([{"iss": ISS, "client_id": "c", **entry}])}
    if keys:
        env["RADAR_JWKS"] = keys
    return load_settings(env).ehr_for(ISS)


def test_no_backend_client_by_default():
    ehr = load({})
    assert ehr.backend_client_id is None and ehr.backend_scopes is None


def test_v2_system_scopes_by_default():
    ehr = load({"backend_client_id": " radar-backend "})
    assert ehr.backend_client_id == "radar-backend"
    assert ehr.backend_scopes == BACKEND_SCOPES
    assert set(ehr.backend_scopes.split()) >= {"system/Patient.rs", "system/Group.rs", "system/Observation.rs",
                                               "system/Binary.r"}


def test_v1_spelling_when_the_entry_uses_v1_scopes():
    ehr = load({"backend_client_id": "radar-backend", "scopes": V1})
    assert ehr.backend_scopes == BACKEND_SCOPES_V1
    assert all(s.startswith("system/") and s.endswith(".read") for s in ehr.backend_scopes.split())
    # The same resources in both spellings.
    assert [s.split(".")[0] for s in BACKEND_SCOPES.split()] == [s.split(".")[0] for s in BACKEND_SCOPES_V1.split()]


def test_given_scopes_kept_and_normalised():
    ehr = load({"backend_client_id": "b", "backend_scopes": "  system/Patient.rs   system/Group.rs "})
    assert ehr.backend_scopes == "system/Patient.rs system/Group.rs"


def test_backend_uses_the_entry_signing_alg():
    ehr = load({"backend_client_id": "b", "signing_alg": "ES384"})
    assert ehr.signing_alg == "ES384" and ehr.backend_client_id == "b"


@pytest.mark.parametrize("entry, keys, message", [
    ({"backend_client_id": "b"}, None, "RADAR_EHRS[0].backend_client_id: Backend Services signs in with "
                                       "private_key_jwt and needs a private RS384 key"),
    ({"backend_client_id": "b", "signing_alg": "ES384"},
     json.dumps({"keys": [k for k in generate_keys().as_dict(private=True)["keys"] if k["alg"] == "RS384"]}),
     "needs a private ES384 key"),
    ({"backend_client_id": ""}, KEYS, "RADAR_EHRS[0].backend_client_id: must be a non-empty string"),
    ({"backend_client_id": 7}, KEYS, "RADAR_EHRS[0].backend_client_id: must be a non-empty string"),
    ({"backend_scopes": "system/Patient.rs"}, KEYS, "RADAR_EHRS[0].backend_scopes: needs backend_client_id"),
    ({"backend_client_id": "b", "backend_scopes": " "}, KEYS,
     "RADAR_EHRS[0].backend_scopes: must be a non-empty space-separated string"),
    ({"backend_client_id": "b", "backend_scopes": "system/Patient.rs patient/Condition.rs"}, KEYS,
     "RADAR_EHRS[0].backend_scopes: only system/ scopes are granted to a backend client; not patient/Condition.rs"),
])
def test_bad_backend_fields_name_the_setting(entry, keys, message):
    with pytest.raises(ConfigError) as err:
        load(entry, keys)
    assert message in str(err.value)


def test_client_secret_entry_may_have_a_backend_client():
    # The chart signs in with a secret; the population export still signs with the app's keys.
    env = {"RADAR_JWKS": KEYS, "S": "x",
           "RADAR_EHRS": json.dumps([{"iss": ISS, "client_id": "c", "auth": "client_secret_basic", "secret_env": "S",
                                      "backend_client_id": "b"}])}
    ehr = load_settings(env).ehr_for(ISS)
    assert ehr.auth == "client_secret_basic" and ehr.backend_client_id == "b"
