"""Where the chart's pods may connect (NetworkPolicy egress) and where the audit trail goes (``audit.sink``),
rendered by the real ``helm`` and validated against the Kubernetes schemas."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.config import AuditSettings
from tests.support.helm import (
    CHART,
    FIXTURES,
    FULLNAME,
    RELEASE,
    SCREEN,
    config,
    container,
    find,
    run_helm,
    screen_container,
    screen_pod,
    template,
    validate,
)

MINIMAL = ["-f", str(FIXTURES / "minimal.yaml")]
DNS = {"ports": [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}]}
ANY_HTTPS = {"to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}], "ports": [{"port": 443, "protocol": "TCP"}]}
APPS = ("web", "worker", "screen")
STRICT_SCREEN = [*SCREEN, "--set", "networkPolicy.allowAllHttps=false"]  # the chart's default; the fixture widens it


def audit_settings(cfg: dict[str, str]) -> AuditSettings:
    """What the pods make of the ConfigMap's RADAR_AUDIT_* (the app's own parser)."""
    return AuditSettings.from_env(cfg, Path(cfg["RADAR_DATA_DIR"]))


def egress(objects: list[dict], component: str) -> list[dict]:
    return find(objects, "NetworkPolicy", f"{FULLNAME}-{component}")["spec"]["egress"]


def test_by_default_the_app_reaches_dns_and_its_own_redis_only(helm):
    objects = template(helm, *STRICT_SCREEN)
    validate(objects)
    for component in APPS:
        rules = egress(objects, component)
        assert rules[0] == DNS
        assert [r["to"][0]["podSelector"]["matchLabels"]["app.kubernetes.io/component"] for r in rules[1:]] == [
            "redis"], component
        assert not any("ipBlock" in peer for r in rules for peer in r.get("to", [])), component


def test_the_registered_ehrs_addresses_on_443(helm):
    cidrs = ["203.0.113.10/32", "198.51.100.0/24"]
    objects = template(helm, *STRICT_SCREEN, "--set-json", f"networkPolicy.ehrCidrs={json.dumps(cidrs)}",
                       "--set", "inference.vllm.enabled=true")
    validate(objects)
    ehr_rule = {"to": [{"ipBlock": {"cidr": c}} for c in cidrs], "ports": [{"port": 443, "protocol": "TCP"}]}
    for component in APPS:
        rules = egress(objects, component)
        assert ehr_rule in rules and ANY_HTTPS not in rules, component
    assert ehr_rule not in egress(objects, "vllm")  # the model server never talks to the EHR
    assert any(r.get("ports") == [{"port": 8000, "protocol": "TCP"}] for r in egress(objects, "web"))


def test_widening_it_allow_all_https_and_extra_rules(helm):
    peers = [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "llm"}},
              "podSelector": {"matchLabels": {"app": "radar-vllm"}}}]
    objects = template(helm, *MINIMAL, "--set", "networkPolicy.allowAllHttps=true",
                       "--set-json", f"networkPolicy.inferencePeers={json.dumps(peers)}",
                       "--set-json", 'networkPolicy.egress=[{"cidr":"10.20.0.0/16","ports":[6380]}]')
    validate(objects)
    for component in ("web", "worker"):
        rules = egress(objects, component)
        assert ANY_HTTPS in rules and {"to": peers} in rules
        assert {"to": [{"ipBlock": {"cidr": "10.20.0.0/16"}}], "ports": [{"port": 6380, "protocol": "TCP"}]} in rules


def test_vllm_downloads_its_weights_until_told_they_are_cached(helm):
    objects = template(helm, *MINIMAL, "--set", "inference.vllm.enabled=true")
    assert egress(objects, "vllm") == [DNS, ANY_HTTPS]
    assert ANY_HTTPS not in egress(objects, "web")
    cached = template(helm, *MINIMAL, "--set", "inference.vllm.enabled=true", "--set", "networkPolicy.vllmDownload=false")
    assert egress(cached, "vllm") == [DNS]


@pytest.mark.parametrize("args,where", [
    (["--set-json", 'networkPolicy.ehrCidrs=["fhir.hospital.example"]'], "/networkPolicy/ehrCidrs/0"),
    (["--set", "networkPolicy.allowAllHttps=yes"], "/networkPolicy/allowAllHttps"),
    (["--set", "audit.sink=syslog"], "/audit/sink"),
])
def test_schema_rejects_host_names_and_unknown_sinks(helm, args, where):
    proc = run_helm(helm, "template", RELEASE, str(CHART), *MINIMAL, *args)
    assert proc.returncode != 0 and where in proc.stderr, proc.stderr


def test_audit_goes_to_stdout_in_the_cluster_by_default(helm):
    objects = template(helm, *SCREEN)
    cfg = config(objects)
    assert cfg["RADAR_AUDIT_SINK"] == "stdout" and cfg["RADAR_AUDIT_STREAM_MAX"] == "1000000"
    assert audit_settings(cfg) == AuditSettings("stdout", None, 1_000_000)
    assert not [o for o in objects if o["kind"] == "PersistentVolumeClaim" and "audit" in o["metadata"]["name"]]
    for workload in ("web", "worker"):
        mounts = container(objects, f"{FULLNAME}-{workload}")["volumeMounts"]
        assert "/var/lib/radar/audit" not in [m["mountPath"] for m in mounts]


def test_audit_file_sink_on_a_shared_volume(helm):
    objects = template(helm, *SCREEN, "--set", "audit.sink=file", "--set", "audit.persistence.storageClass=efs",
                       "--set", "audit.streamMax=50000")
    validate(objects)
    cfg = config(objects)
    assert cfg["RADAR_AUDIT_SINK"] == "file:/var/lib/radar/audit/audit.jsonl"
    assert audit_settings(cfg).stream_max == 50000
    pvc = find(objects, "PersistentVolumeClaim", f"{FULLNAME}-audit")
    assert pvc["spec"]["accessModes"] == ["ReadWriteMany"] and pvc["spec"]["storageClassName"] == "efs"
    assert pvc["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    volume = {"name": "audit", "persistentVolumeClaim": {"claimName": f"{FULLNAME}-audit"}}
    pods = [find(objects, "Deployment", f"{FULLNAME}-{w}")["spec"]["template"]["spec"] for w in ("web", "worker")]
    for pod in [*pods, screen_pod(objects)]:
        assert volume in pod["volumes"]
        assert {"name": "audit", "mountPath": "/var/lib/radar/audit"} in pod["containers"][0]["volumeMounts"]
    assert {"name": "audit", "mountPath": "/var/lib/radar/audit"} in screen_container(objects)["volumeMounts"]

    own = template(helm, *MINIMAL, "--set", "audit.sink=file", "--set", "audit.persistence.existingClaim=audit-nfs")
    assert not [o for o in own if o["kind"] == "PersistentVolumeClaim" and "audit" in o["metadata"]["name"]]
    assert {"name": "audit", "persistentVolumeClaim": {"claimName": "audit-nfs"}} in \
        find(own, "Deployment", f"{FULLNAME}-web")["spec"]["template"]["spec"]["volumes"]
    assert find(own, "ConfigMap", FULLNAME)["data"]["RADAR_AUDIT_SINK"] == "file:/var/lib/radar/audit/audit.jsonl"


def test_no_sink_keeps_the_trail_in_redis(helm):
    cfg = config(template(helm, *MINIMAL, "--set", "audit.sink=none"))
    assert audit_settings(cfg).exports is False


def notes(helm, *args: str) -> str:
    """What ``helm install`` prints after installing (NOTES.txt), rendered offline."""
    proc = run_helm(helm, "install", RELEASE, str(CHART), "--dry-run=client", "--namespace", "radar", *args)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.split("NOTES:", 1)[1]


def test_install_warns_while_no_ehr_is_reachable_and_says_where_the_audit_goes(helm):
    text = notes(helm, *MINIMAL)
    assert "WARNING: the NetworkPolicies let the pods reach no EHR" in text and "networkPolicy.ehrCidrs" in text
    assert "Audit trail: JSON lines on the stdout of the web, worker and screen pods" in text
    text = notes(helm, *MINIMAL, "--set-json", 'networkPolicy.ehrCidrs=["203.0.113.10/32"]', "--set", "audit.sink=file")
    assert "WARNING" not in text
    assert f"Audit trail: /var/lib/radar/audit/audit.jsonl on the claim {FULLNAME}-audit" in text
    assert "WARNING" not in notes(helm, *MINIMAL, "--set", "networkPolicy.enabled=false")
