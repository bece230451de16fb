"""The nightly population screen in the Helm chart: a CronJob whose pod is the worker's, rendered by the
real ``helm`` and validated against the Kubernetes schemas (see ``tests/test_helm.py``)."""
from __future__ import annotations

import json
import re

import pytest

from app.config import load_settings
from app.config.ehrs import BACKEND_SCOPES, BACKEND_SCOPES_V1
from tests.support.helm import (
    CHART,
    EPIC,
    FIXTURES,
    FULLNAME,
    RELEASE,
    SCREEN,
    config,
    env_of,
    find,
    run_helm,
    screen_container,
    screen_pod,
    secret_data,
    validate,
    web_container,
)
from tests.support.helm import SCREEN_NAME as NAME
from tests.support.helm import template as render

ORACLE = "https://fhir-ehr.cerner.com/r4/ec2458f2-1e24-41c8-b71b-0e701af7583d"
SPARK = ["--set", "screen.sparkMaster=spark://spark-master.spark:7077",
         "--set-json", 'screen.sparkPeers=[{"namespaceSelector":{"matchLabels":{"kubernetes.io/metadata.name":"spark"}}}]']


def ehrs(epic_backend: bool = True, oracle_backend: bool = True, epic_auth: str = "none") -> list[str]:
    """``--set-json ehrs=…``: the fixture's two EHRs, with or without their Backend Services clients."""
    epic = {"name": "Epic", "iss": EPIC, "clientId": "9d0a6f3e-epic", "auth": epic_auth}
    oracle = {"name": "Oracle Health", "iss": ORACLE, "clientId": "1b2c3d4e-oracle", "auth": "client_secret_basic",
              "secretKey": "oracle-client-secret"}
    if epic_backend:
        epic["backendClientId"] = "5e1f77a0-epic-backend"
    if oracle_backend:
        oracle["backendClientId"] = "7c3d-oracle-backend"
    return ["--set-json", f"ehrs={json.dumps([epic, oracle])}"]


def test_disabled_by_default_renders_nothing(helm):
    objects = render(helm, "-f", str(FIXTURES / "minimal.yaml"))
    assert not [o for o in objects if o["kind"] in ("CronJob", "Job") or "screen" in o["metadata"]["name"]]
    redis_from = find(objects, "NetworkPolicy", f"{FULLNAME}-redis")["spec"]["ingress"][0]["from"]
    assert [p["podSelector"]["matchLabels"]["app.kubernetes.io/component"] for p in redis_from] == ["web", "worker"]
    # Nothing screen-related leaks into the values the other fixtures render either.
    proc = run_helm(helm, "template", RELEASE, str(CHART), "-f", str(FIXTURES / "minimal.yaml"),
                    "--show-only", "templates/screen-cronjob.yaml")
    assert proc.returncode != 0 and "could not find template" in proc.stderr


def test_cronjob_runs_the_screen_nightly(helm):
    objects = render(helm, *SCREEN)
    validate(objects)
    cron = find(objects, "CronJob", NAME)
    assert cron["apiVersion"] == "batch/v1"
    spec = cron["spec"]
    assert (spec["schedule"], spec["timeZone"], spec["concurrencyPolicy"]) == ("30 1 * * *", "Europe/Berlin", "Forbid")
    assert (spec["successfulJobsHistoryLimit"], spec["failedJobsHistoryLimit"]) == (3, 3)
    job = spec["jobTemplate"]["spec"]
    assert job["activeDeadlineSeconds"] == 21600 and job["backoffLimit"] >= 1
    pod = screen_pod(objects)
    assert pod["restartPolicy"] == "Never"
    labels = spec["jobTemplate"]["spec"]["template"]["metadata"]["labels"]
    assert labels["app.kubernetes.io/component"] == "screen" and labels["app.kubernetes.io/instance"] == RELEASE
    c = screen_container(objects)
    assert c["command"] == ["radar", "screen"]
    assert c["args"] == ["--ehr", EPIC, "--group", "e3f9A.rare-clinic", "--since", "auto",
                         "--out", "/data/worklist.ndjson", "--actor", f"cronjob/{NAME}", "--radar-top", "5"]
    assert c["resources"] == {"requests": {"cpu": "2", "memory": "3Gi"}, "limits": {"cpu": "4", "memory": "6Gi"}}
    assert c["image"] == web_container(objects)["image"] + "-screen"
    # /data is the screen's own volume, kept between runs (export state, --since auto, the worklist).
    pvc = find(objects, "PersistentVolumeClaim", NAME)
    assert pvc["spec"]["storageClassName"] == "encrypted-ssd"
    assert pvc["spec"]["resources"]["requests"]["storage"] == "50Gi"
    assert {"name": "data", "persistentVolumeClaim": {"claimName": NAME}} in pod["volumes"]
    assert {"name": "data", "mountPath": "/data"} in c["volumeMounts"]


def test_pod_gets_the_secrets_as_web_and_worker_do(helm, jwks_file):
    objects = render(helm, *SCREEN)
    pod, c, web = screen_pod(objects), screen_container(objects), web_container(objects)
    # The same hardening, service account and ConfigMap.
    web_pod = find(objects, "Deployment", f"{FULLNAME}-web")["spec"]["template"]["spec"]
    for key in ("securityContext", "serviceAccountName", "automountServiceAccountToken"):
        assert pod[key] == web_pod[key], key
    assert c["securityContext"] == web["securityContext"] and c["envFrom"] == web["envFrom"]
    env, web_env = env_of(c), env_of(web)
    for name in ("REDIS_PASSWORD", "REDIS_URL", "RADAR_EHR_1_CLIENT_SECRET"):
        assert env[name] == web_env[name], name
    names = [e["name"] for e in c["env"]]
    assert names.index("REDIS_PASSWORD") < names.index("REDIS_URL")
    # The JWK Set is always mounted: Backend Services signs with it even where the launch does not.
    jwks = next(v for v in pod["volumes"] if v["name"] == "jwks")["secret"]
    assert jwks["secretName"] == "radar-secrets" and jwks["items"] == [{"key": "jwks.json", "path": "jwks.json"}]
    assert jwks["defaultMode"] == 0o440
    assert {"name": "jwks", "mountPath": "/etc/radar/jwks", "readOnly": True} in c["volumeMounts"]
    assert [v["name"] for v in pod["volumes"]].count("jwks") == 1
    assert env["RADAR_JWKS_FILE"]["value"] == "/etc/radar/jwks/jwks.json"
    # RADAR_EHRS is the web app's registry plus each entry's Backend Services client.
    ehrs = json.loads(env["RADAR_EHRS"]["value"])
    web_ehrs = json.loads(config(objects)["RADAR_EHRS"])
    def launch_part(entries):
        return [{k: v for k, v in e.items() if not k.startswith("backend_")} for e in entries]

    assert launch_part(ehrs) == launch_part(web_ehrs)
    assert [e["backend_client_id"] for e in ehrs] == ["5e1f77a0-epic-backend", "7c3d-oracle-backend"]
    # No secret value as a literal anywhere in the pod.
    literals = [e["value"] for e in c["env"] if "value" in e] + c["args"] + c["command"]
    assert "BEGIN" not in "\n".join(literals) and '"d":' not in "\n".join(literals)
    for e in c["env"]:
        if re.search(r"SECRET|PASSWORD|API_KEY|TOKEN", e["name"]):
            assert "secretKeyRef" in e["valueFrom"], e["name"]
    # The app accepts what the pod is given: both backend clients, Oracle's in v1 spelling.
    environment = dict(config(objects))
    secrets = {"radar-secrets": {"oracle-client-secret": "s3cr3t"}, f"{FULLNAME}-redis": secret_data(
        objects, f"{FULLNAME}-redis")}
    for name, entry in env.items():
        if "value" in entry:
            environment[name] = re.sub(r"\$\((\w+)\)", lambda m: environment[m.group(1)], entry["value"])
        else:
            ref = entry["valueFrom"]["secretKeyRef"]
            environment[name] = secrets[ref["name"]][ref["key"]]
    environment["RADAR_JWKS_FILE"] = str(jwks_file)
    settings = load_settings(environment)
    assert settings.ehrs[EPIC].backend_client_id == "5e1f77a0-epic-backend"
    assert settings.ehrs[EPIC].backend_scopes == BACKEND_SCOPES
    assert settings.ehrs[ORACLE].backend_scopes == BACKEND_SCOPES_V1


def test_jwks_mounted_once_when_the_launch_signs_too(helm):
    objects = render(helm, *SCREEN, *ehrs(epic_auth="private_key_jwt"))
    validate(objects)
    assert config(objects)["RADAR_JWKS_FILE"] == "/etc/radar/jwks/jwks.json"
    pod, c = screen_pod(objects), screen_container(objects)
    assert [v["name"] for v in pod["volumes"]] == ["tmp", "data", "jwks"]
    assert [m["mountPath"] for m in c["volumeMounts"]] == ["/tmp", "/data", "/etc/radar/jwks"]


def test_network_policy_local_spark(helm):
    objects = render(helm, *SCREEN)
    policy = find(objects, "NetworkPolicy", NAME)["spec"]
    assert policy["podSelector"]["matchLabels"]["app.kubernetes.io/component"] == "screen"
    assert policy["ingress"] == []
    egress = policy["egress"]
    assert {"ports": [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}]} in egress
    assert {"to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}], "ports": [{"port": 443, "protocol": "TCP"}]} in egress
    assert any(r.get("ports") == [{"port": 6379, "protocol": "TCP"}] for r in egress)
    redis_from = find(objects, "NetworkPolicy", f"{FULLNAME}-redis")["spec"]["ingress"][0]["from"]
    assert [p["podSelector"]["matchLabels"]["app.kubernetes.io/component"] for p in redis_from] == [
        "web", "worker", "screen"]
    env = env_of(screen_container(objects))
    assert "--master" not in screen_container(objects)["args"] and "PYSPARK_SUBMIT_ARGS" not in env


def test_external_spark_master_is_passed_through(helm):
    objects = render(helm, *SCREEN, *SPARK)
    validate(objects)
    c = screen_container(objects)
    assert c["args"][-2:] == ["--master", "spark://spark-master.spark:7077"]
    env = env_of(c)
    assert env["POD_IP"]["valueFrom"] == {"fieldRef": {"fieldPath": "status.podIP"}}
    assert env["SPARK_LOCAL_HOSTNAME"]["value"] == "$(POD_IP)"
    names = [e["name"] for e in c["env"]]
    assert names.index("POD_IP") < names.index("SPARK_LOCAL_HOSTNAME")
    submit = env["PYSPARK_SUBMIT_ARGS"]["value"].split()
    assert submit[-1] == "pyspark-shell" and "spark.driver.port=7078" in submit and "spark.blockManager.port=7079" in submit
    peers = [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "spark"}}}]
    policy = find(objects, "NetworkPolicy", NAME)["spec"]
    assert policy["ingress"] == [{"from": peers, "ports": [{"port": 7078, "protocol": "TCP"},
                                                           {"port": 7079, "protocol": "TCP"}]}]
    assert {"to": peers} in policy["egress"]


def test_a_local_master_stays_in_the_pod(helm):
    objects = render(helm, *SCREEN, "--set", "screen.sparkMaster=local[2]")
    c = screen_container(objects)
    assert c["args"][-2:] == ["--master", "local[2]"]
    assert not {"POD_IP", "SPARK_LOCAL_HOSTNAME", "PYSPARK_SUBMIT_ARGS"} & set(env_of(c))
    assert find(objects, "NetworkPolicy", NAME)["spec"]["ingress"] == []


def test_existing_claim_and_the_only_backend_ehr(helm):
    objects = render(helm, *SCREEN, "--set", "screen.persistence.existingClaim=rare-team-share",
                     "--set", "screen.ehr=", *ehrs(oracle_backend=False), "--set", "screen.since=2026-11-30T00:00:00Z",
                     "--set", "screen.radarTop=0", "--set", "networkPolicy.enabled=false")
    assert not [o for o in objects if o["kind"] == "PersistentVolumeClaim"]
    assert {"name": "data", "persistentVolumeClaim": {"claimName": "rare-team-share"}} in screen_pod(objects)["volumes"]
    args = screen_container(objects)["args"]
    assert args[:6] == ["--ehr", EPIC, "--group", "e3f9A.rare-clinic", "--since", "2026-11-30T00:00:00Z"]
    assert "--radar-top" not in args
    assert not [o for o in objects if o["kind"] == "NetworkPolicy"]


BAD_VALUES = [
    (["--set", "screen.enabled=true"], "/screen/group", "minLength"),
    (["--set-json", "screen.schedule=5"], "/screen/schedule", "want string"),
    (["--set", "screen.schedule=nightly"], "/screen/schedule", "does not match pattern"),
    (["--set", "screen.since=yesterday"], "/screen/since", "does not match pattern"),
    (["--set", "screen.radarTop=-1"], "/screen/radarTop", "minimum"),
    (["--set", "screen.concurrencyPolicy=Sometimes"], "/screen/concurrencyPolicy", "must be one of"),
    (["--set", "screen.sparkMaster=http://spark:8080"], "/screen/sparkMaster", "anyOf"),
    (["--set", "screen.activeDeadlineSeconds=six"], "/screen/activeDeadlineSeconds", "want integer"),
    (["--set", "screen.persistance.size=1Gi"], "/screen", "'persistance'"),
    (["--set-json", ('ehrs=[{"iss":"https://fhir.example/r4","clientId":"a",'
                     '"backendClientId":"b","backendScopes":"patient/Patient.rs"}]')],
     "/ehrs/0/backendScopes", "does not match pattern"),
]


@pytest.mark.parametrize("args,field,words", BAD_VALUES, ids=[b[1] + ":" + b[0][-1] for b in BAD_VALUES])
def test_schema_rejects_bad_values(helm, args, field, words):
    proc = run_helm(helm, "template", RELEASE, str(CHART), "--set", "ingress.host=radar.example", *args)
    assert proc.returncode != 0
    assert f"at '{field}'" in proc.stderr and words in proc.stderr, proc.stderr


FAILURES = [
    (["--set", "screen.ehr=Cerner"], 'screen.ehr: "Cerner" is neither the iss nor the name'),
    (["--set", "screen.ehr=", *ehrs(False, False)],
     "no entry in ehrs has a backendClientId"),
    (["--set", "screen.ehr="], "2 entries in ehrs have a backendClientId"),
    (ehrs(epic_backend=False),
     'ehrs entry "Epic" has no backendClientId: register RaDaR with the EHR for SMART Backend Services'),
    (["--set", "secrets.existingSecret=", "--set", "secrets.values.oracle-client-secret=x"],
     "secrets.values.jwks.json: "),
    (["--set", "screen.sparkMaster=spark://spark-master.spark:7077"], "screen.sparkPeers:"),
]


@pytest.mark.parametrize("args,message", FAILURES, ids=[f[1][:40] for f in FAILURES])
def test_chart_fails_with_readable_message(helm, args, message):
    proc = run_helm(helm, "template", RELEASE, str(CHART), *SCREEN, *args)
    assert proc.returncode != 0
    assert message in proc.stderr, proc.stderr


def test_lint_strict_with_external_spark(helm):
    proc = run_helm(helm, "lint", "--strict", str(CHART), *SCREEN, *SPARK)
    assert proc.returncode == 0, proc.stdout + proc.stderr
def test_web_serves_the_keys_a_backend_client_signs_with(helm, jwks_file):
    """The EHR verifies the screen's client assertion at <host>/.well-known/jwks.json: the web pods need the keys."""
    objects = render(helm, *SCREEN)
    cfg = config(objects)
    assert cfg["RADAR_JWKS_FILE"] == "/etc/radar/jwks/jwks.json"
    assert [e["backend_client_id"] for e in json.loads(cfg["RADAR_EHRS"])] == ["5e1f77a0-epic-backend",
                                                                               "7c3d-oracle-backend"]
    web_pod = find(objects, "Deployment", f"{FULLNAME}-web")["spec"]["template"]["spec"]
    assert any(v["name"] == "jwks" for v in web_pod["volumes"])


def test_the_screen_runs_its_own_image_with_java_and_spark(helm):
    """The web image has no Java and no PySpark: the CronJob (both containers when it learns) runs the
    screen image, by default the app image's tag + ``-screen``, or the one ``screen.image`` names."""
    objects = render(helm, *SCREEN, "--set", "image.tag=1.2.3", "--set", "screen.learnBackground=true")
    assert web_container(objects)["image"] == "ghcr.io/radar-in-the-chart/radar:1.2.3"
    pod = screen_pod(objects)
    images = [c["image"] for c in pod["initContainers"] + pod["containers"]]
    assert images == ["ghcr.io/radar-in-the-chart/radar:1.2.3-screen"] * 2
    objects = render(helm, *SCREEN, "--set", "screen.image=registry.example/radar-screen:7")
    validate(objects)
    assert screen_container(objects)["image"] == "registry.example/radar-screen:7"
