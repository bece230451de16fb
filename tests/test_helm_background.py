"""The site background in the Helm chart: one value sets RADAR_BACKGROUND for web, worker and screen
(a ConfigMap mounted read-only, or a file in the image), and the nightly CronJob can learn a new
one after the screen; rendered by the real ``helm`` and validated against the Kubernetes schemas."""
from __future__ import annotations

import pytest

from tests.support import helm as base
from tests.support.helm import FIXTURES, FULLNAME, SCREEN, config, find, run_helm, screen_pod, validate
from tests.support.helm import template as render

CM = ["--set", "background.configMap=radar-background"]


def pod_of(objects: list[dict], name: str) -> dict:
    return find(objects, "Deployment", f"{FULLNAME}-{name}")["spec"]["template"]["spec"]


def test_unset_is_the_shipped_background(helm):
    objects = render(helm, *SCREEN)
    assert "RADAR_BACKGROUND" not in config(objects)
    assert not [v for o in ("web", "worker") for v in pod_of(objects, o)["volumes"] if v["name"] == "background"]


def test_a_config_map_reaches_web_worker_and_screen_read_only(helm):
    objects = render(helm, *SCREEN, *CM)
    validate(objects)
    assert config(objects)["RADAR_BACKGROUND"] == "/etc/radar/background/background.json.gz"
    for spec in (pod_of(objects, "web"), pod_of(objects, "worker"), screen_pod(objects)):
        volume = next(v for v in spec["volumes"] if v["name"] == "background")
        assert volume["configMap"] == {"name": "radar-background",
                                       "items": [{"key": "background.json.gz", "path": "background.json.gz"}]}
        for container in spec["containers"]:
            assert {"name": "background", "mountPath": "/etc/radar/background", "readOnly": True} \
                in container["volumeMounts"]
            assert {"configMapRef": {"name": FULLNAME}} in container["envFrom"]


def test_a_file_in_the_image_and_not_both(helm):
    objects = render(helm, "-f", str(FIXTURES / "minimal.yaml"), "--set", "background.file=/opt/radar/site.json.gz")
    assert config(objects)["RADAR_BACKGROUND"] == "/opt/radar/site.json.gz"
    proc = run_helm(helm, "template", "rd", str(base.CHART), "-f", str(FIXTURES / "minimal.yaml"), *CM,
                    "--set", "background.file=/opt/radar/site.json.gz")
    assert proc.returncode != 0 and "background.configMap and background.file are exclusive" in proc.stderr


@pytest.mark.parametrize("value, message", [
    ("background.file=relative.json.gz", "/background/file"),
    ("background.configMap=Not_A_Name", "/background/configMap"),
])
def test_bad_values_are_refused_by_the_schema(helm, value, message):
    proc = run_helm(helm, "template", "rd", str(base.CHART), "-f", str(FIXTURES / "minimal.yaml"), "--set", value)
    assert proc.returncode != 0 and message in proc.stderr


def test_the_cronjob_learns_after_the_screen_when_asked(helm):
    objects = render(helm, *SCREEN, *CM, "--set", "screen.learnBackground=true", "--set", "screen.learnName=General")
    validate(objects)
    spec = screen_pod(objects)
    (screen,), (learn,) = spec["initContainers"], spec["containers"]
    assert screen["command"] == ["radar", "screen"] and learn["command"] == ["radar", "learn-background"]
    assert learn["args"] == ["/data/radar-export", "--out", "/data/background.json.gz", "--name", "General"]
    assert learn["volumeMounts"] == screen["volumeMounts"] and learn["env"] == screen["env"]
    job = find(objects, "CronJob", f"{FULLNAME}-screen")["spec"]["jobTemplate"]["spec"]
    assert job["podFailurePolicy"]["rules"][0]["onExitCodes"]["containerName"] == "learn-background"
    plain = screen_pod(render(helm, *SCREEN))
    assert "initContainers" not in plain and [c["name"] for c in plain["containers"]] == ["screen"]
