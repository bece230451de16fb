"""Settings validation: every bad setting fails with a message naming it and the reason."""
import json
from pathlib import Path

import pytest

from app.config import CdsThresholds, ConfigError, ModelSettings, load_settings
from app.smart.keys import generate_keys

ISS = "https://ehr.example.org/fhir"


def ehrs(*entries):
    return json.dumps(list(entries))


def test_empty_environment_gives_embedded_defaults():
    s = load_settings({})
    assert s.redis_url is None and s.ehrs == {} and s.keys is None


def test_registry_parsed_and_iss_normalised():
    s = load_settings({"RADAR_EHRS": ehrs({"iss": ISS + "/", "client_id": "c1", "auth": "none"})})
    ehr = s.ehr_for(ISS)
    assert ehr is not None and ehr.client_id == "c1" and ehr.iss == ISS
    assert s.ehr_for(ISS + "/") is ehr
    assert "launch/patient" in ehr.scope_for_standalone.split() and "launch" not in ehr.scope_for_standalone.split()


def test_registry_from_file(tmp_path):
    path = tmp_path / "ehrs.json"
    path.write_text(ehrs({"iss": ISS, "client_id": "c1"}))
    assert load_settings({"RADAR_EHRS": str(path)}).ehr_for(ISS).auth == "none"


@pytest.mark.parametrize("value, message", [
    ("{not json", "RADAR_EHRS: not valid JSON"),
    ('{"iss": "x"}', "RADAR_EHRS: must be a JSON list"),
    ("/no/such/file.json", "RADAR_EHRS: expected a JSON list or the path of a JSON file"),
    (ehrs({"client_id": "c"}), "RADAR_EHRS[0].iss: required"),
    (ehrs({"iss": "ftp://x", "client_id": "c"}), "RADAR_EHRS[0].iss: 'ftp://x' is not an absolute http(s) URL"),
    (ehrs({"iss": ISS, "client_id": "c", "auth": "magic"}), "RADAR_EHRS[0].auth: 'magic' is not one of"),
    (ehrs({"iss": ISS, "client_id": "c", "auth": "client_secret_basic"}),
     "RADAR_EHRS[0].secret_env: auth client_secret_basic needs"),
    (ehrs({"iss": ISS, "client_id": "c", "auth": "client_secret_post", "secret_env": "NOPE_UNSET"}),
     "RADAR_EHRS[0].secret_env: environment variable NOPE_UNSET is not set"),
    (ehrs({"iss": ISS, "client_id": "c", "auth": "private_key_jwt"}),
     "RADAR_EHRS[0].auth: private_key_jwt needs a private RS384 key"),
    (ehrs({"iss": ISS, "client_id": "c", "secret": "inline"}), "RADAR_EHRS[0]: unknown field(s) secret"),
    (ehrs({"iss": ISS, "client_id": "c"}, {"iss": ISS, "client_id": "d"}), "RADAR_EHRS[1].iss: " + ISS + " is registered twice"),
])
def test_bad_registry_names_the_setting(value, message):
    with pytest.raises(ConfigError) as err:
        load_settings({"RADAR_EHRS": value})
    assert message in str(err.value)


def test_secret_comes_from_the_named_variable():
    s = load_settings({"RADAR_EHRS": ehrs({"iss": ISS, "client_id": "c", "auth": "client_secret_basic",
                                           "secret_env": "MY_SECRET"}), "MY_SECRET": "s3cr3t"})
    assert s.ehr_for(ISS).client_secret == "s3cr3t"


def test_a_backend_only_command_reads_an_entry_whose_chart_secret_is_not_here():
    env = {"RADAR_EHRS": ehrs({"iss": ISS, "client_id": "c", "auth": "client_secret_post", "secret_env": "NOPE_UNSET"})}
    with pytest.raises(ConfigError, match="NOPE_UNSET is not set"):
        load_settings(env)
    assert load_settings(env, chart_secrets=False).ehr_for(ISS).client_secret is None
    with pytest.raises(ConfigError, match="needs the name of the environment variable"):
        load_settings({"RADAR_EHRS": ehrs({"iss": ISS, "client_id": "c", "auth": "client_secret_post"})},
                      chart_secrets=False)


def test_private_key_jwt_with_keys():
    keys = json.dumps(generate_keys().as_dict(private=True))
    s = load_settings({"RADAR_JWKS": keys, "RADAR_EHRS": ehrs({"iss": ISS, "client_id": "c", "auth": "private_key_jwt",
                                                               "signing_alg": "ES384"})})
    assert s.ehr_for(ISS).signing_alg == "ES384"


def test_public_only_jwks_rejected():
    public = json.dumps(generate_keys().as_dict(private=False))
    with pytest.raises(ConfigError, match="RADAR_JWKS: key .* has no private part"):
        load_settings({"RADAR_JWKS": public})


@pytest.mark.parametrize("env, message", [
    ({"REDIS_URL": "http://localhost"}, "REDIS_URL: must start with"),
    ({"RADAR_SESSION_TTL": "soon"}, "RADAR_SESSION_TTL: 'soon' is not a whole number"),
    ({"RADAR_SESSION_TTL": "0"}, "RADAR_SESSION_TTL: must be greater than zero"),
    ({"RADAR_PUBLIC_URL": "radar.example.org"}, "RADAR_PUBLIC_URL:"),
    ({"RADAR_JWKS_FILE": "/no/such/jwks.json"}, "RADAR_JWKS_FILE: no file"),
    ({"RADAR_JWKS": "[]"}, "RADAR_JWKS: not a valid JWK Set"),
])
def test_other_settings_validated(env, message):
    with pytest.raises(ConfigError, match=message):
        load_settings(env)


def test_model_settings_typed():
    assert load_settings({}).model is None
    model = load_settings({"RADAR_URL": "https://vllm.example/v1"}).model
    assert isinstance(model, ModelSettings) and model.url == "https://vllm.example/v1"


MODEL = {"RADAR_URL": "https://vllm.example/v1"}


@pytest.mark.parametrize("raw, placement", [(None, "user"), ("", "user"), ("user", "user"), (" System ", "system")])
def test_prompt_placement_defaults_to_the_user_turn(raw, placement):
    env = MODEL if raw is None else {**MODEL, "RADAR_PROMPT_PLACEMENT": raw}
    assert load_settings(env).model.prompt_placement == placement


def test_prompt_placement_rejects_other_values():
    with pytest.raises(ConfigError) as err:
        load_settings({**MODEL, "RADAR_PROMPT_PLACEMENT": "developer"})
    assert str(err.value).startswith("RADAR_PROMPT_PLACEMENT: 'developer' must be user (")
    assert "or system" in str(err.value)


def test_instruction_and_its_older_name():
    assert load_settings({**MODEL, "RADAR_INSTRUCTION": "Be brief."}).model.instruction == "Be brief."
    assert load_settings({**MODEL, "RADAR_SYSTEM_PROMPT": "Be brief."}).model.instruction == "Be brief."
    both = {**MODEL, "RADAR_INSTRUCTION": "Be brief.", "RADAR_SYSTEM_PROMPT": "Be brief."}
    assert load_settings(both).model.instruction == "Be brief."
    with pytest.raises(ConfigError, match="^RADAR_INSTRUCTION: RADAR_SYSTEM_PROMPT .* different"):
        load_settings({**both, "RADAR_SYSTEM_PROMPT": "Be long."})


def test_cds_thresholds_default_to_the_probabilities_chosen_on_development_data():
    assert load_settings({}).cds_thresholds == CdsThresholds() == CdsThresholds(0.5, 0.9)
    blank = {"RADAR_CDS_MIN_PROBABILITY": " ", "RADAR_CDS_WARNING_PROBABILITY": ""}
    assert load_settings(blank).cds_thresholds == CdsThresholds()


def test_cds_thresholds_parsed():
    s = load_settings({"RADAR_CDS_MIN_PROBABILITY": "0.3", "RADAR_CDS_WARNING_PROBABILITY": "0.75"})
    assert s.cds_thresholds == CdsThresholds(min_probability=0.3, warning_probability=0.75)
    assert load_settings({"RADAR_CDS_MIN_PROBABILITY": "0.3"}).cds_thresholds == CdsThresholds(0.3, 0.9)
    assert load_settings({"RADAR_CDS_WARNING_PROBABILITY": "1"}).cds_thresholds == CdsThresholds(0.5, 1.0)
    # A minimum above the default warning raises the warning with it: only a warning set below it is refused.
    assert load_settings({"RADAR_CDS_MIN_PROBABILITY": "0.95"}).cds_thresholds == CdsThresholds(0.95, 0.95)
    assert load_settings({"RADAR_CDS_MIN_PROBABILITY": "0.6", "RADAR_CDS_WARNING_PROBABILITY": "0.6"}
                         ).cds_thresholds == CdsThresholds(0.6, 0.6)


@pytest.mark.parametrize("name", ["RADAR_CDS_MIN_PROBABILITY", "RADAR_CDS_WARNING_PROBABILITY"])
@pytest.mark.parametrize("value, message", [
    ("0", "must be a probability above 0 and at most 1"),
    ("-0.2", "must be a probability above 0 and at most 1"),
    ("1.5", "must be a probability above 0 and at most 1"),
    ("nan", "must be a probability above 0 and at most 1"),
    ("abc", "'abc' is not a number"),
    ("50%", "'50%' is not a number"),
])
def test_cds_thresholds_rejected(name, value, message):
    with pytest.raises(ConfigError) as err:
        load_settings({name: value})
    assert str(err.value).startswith(f"{name}: ") and message in str(err.value)


def test_cds_warning_below_the_minimum_is_refused():
    with pytest.raises(ConfigError) as err:
        load_settings({"RADAR_CDS_MIN_PROBABILITY": "0.7", "RADAR_CDS_WARNING_PROBABILITY": "0.6"})
    assert str(err.value) == "RADAR_CDS_WARNING_PROBABILITY: must not be below RADAR_CDS_MIN_PROBABILITY"


def test_cds_clients_are_a_tuple():
    raw = json.dumps([{"iss": ISS, "jwks_url": ISS + "/jwks.json"}])
    clients = load_settings({"RADAR_CDS_CLIENTS": raw, "RADAR_PUBLIC_URL": "https://radar.example"}).cds_clients
    assert isinstance(clients, tuple) and [c.iss for c in clients] == [ISS]


def test_cds_clients_need_the_public_url():
    # Without it the JWT audience would follow the request's Host header, which the caller chooses.
    raw = json.dumps([{"iss": ISS, "jwks_url": ISS + "/jwks.json"}])
    with pytest.raises(ConfigError) as err:
        load_settings({"RADAR_CDS_CLIENTS": raw})
    assert str(err.value).startswith("RADAR_PUBLIC_URL: required when RADAR_CDS_CLIENTS is set")
    assert load_settings({"RADAR_CDS_CLIENTS": raw, "RADAR_PUBLIC_URL": "https://radar.example/"}).public_url == \
        "https://radar.example"


def test_log_level():
    assert load_settings({}).log_level == "INFO"
    assert load_settings({"RADAR_LOG_LEVEL": "debug"}).log_level == "DEBUG"
    with pytest.raises(ConfigError, match="^RADAR_LOG_LEVEL: 'bogus' is not one of"):
        load_settings({"RADAR_LOG_LEVEL": "bogus"})


@pytest.mark.parametrize("module", ["app/inference/client.py", "app/cds/auth.py"])
def test_module_receives_settings_and_reads_no_environment(module):
    source = (Path(__file__).resolve().parents[2] / module).read_text()
    for word in ("environ", "getenv", "from_env"):
        assert word not in source, f"{module} mentions {word}"


def test_cds_warning_step_parsed_and_checked():
    assert load_settings({}).cds_thresholds.warning_step == CdsThresholds().warning_step == 0.2
    assert load_settings({"RADAR_CDS_WARNING_STEP": "0.4"}).cds_thresholds.warning_step == 0.4
    with pytest.raises(ConfigError) as err:
        load_settings({"RADAR_CDS_WARNING_STEP": "0"})
    assert str(err.value).startswith("RADAR_CDS_WARNING_STEP: ")


def test_cds_warning_candidate_parsed_and_checked():
    assert load_settings({}).cds_thresholds.warning_candidate == CdsThresholds().warning_candidate
    assert load_settings({"RADAR_CDS_WARNING_CANDIDATE": "0.35"}).cds_thresholds.warning_candidate == 0.35
    with pytest.raises(ConfigError) as err:
        load_settings({"RADAR_CDS_WARNING_CANDIDATE": "1.5"})
    assert str(err.value).startswith("RADAR_CDS_WARNING_CANDIDATE: ") and "probability" in str(err.value)
