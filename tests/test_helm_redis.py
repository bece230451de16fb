"""The chart's Redis keeps what it acknowledged: an append-only file fsynced every second, on a
volume by default (its own PVC, or one the admin names)."""
from __future__ import annotations

import kubernetes_validate
import pytest
import yaml

from tests.support.helm import CHART, FULLNAME, KUBE_VERSION, RELEASE, container, find, run_helm, template

HOST = ["--set", "ingress.host=radar.example"]
NAME = f"{FULLNAME}-redis"


def redis_objects(helm: str, *args: str) -> tuple[dict, dict]:
    """(the Redis StatefulSet, its container's arguments as option → value), every object validated."""
    objects = template(helm, *HOST, *args)
    for obj in objects:
        kubernetes_validate.validate(obj, KUBE_VERSION, strict=True)
    args_list = container(objects, NAME)["args"]
    options = {a: args_list[i + 1] for i, a in enumerate(args_list) if a.startswith("--")}
    return find(objects, "StatefulSet", NAME), options


def data_volume(statefulset: dict) -> dict | None:
    return next((v for v in statefulset["spec"]["template"]["spec"]["volumes"] if v["name"] == "data"), None)


def test_default_is_an_append_only_file_on_its_own_volume(helm):
    statefulset, options = redis_objects(helm)
    assert options["--appendonly"] == "yes" and options["--appendfsync"] == "everysec"
    assert options["--dir"] == "/data"
    claim = statefulset["spec"]["volumeClaimTemplates"][0]
    assert claim["metadata"]["name"] == "data" and claim["spec"]["accessModes"] == ["ReadWriteOnce"]
    assert claim["spec"]["resources"]["requests"]["storage"] == "8Gi"
    assert "storageClassName" not in claim["spec"]
    assert data_volume(statefulset) is None


def test_size_and_storage_class(helm):
    statefulset, _ = redis_objects(helm, "--set", "redis.persistence.size=2Gi",
                                   "--set", "redis.persistence.storageClass=fast-ssd")
    spec = statefulset["spec"]["volumeClaimTemplates"][0]["spec"]
    assert spec["storageClassName"] == "fast-ssd" and spec["resources"]["requests"]["storage"] == "2Gi"


def test_existing_claim_is_mounted_instead_of_a_new_one(helm):
    statefulset, options = redis_objects(helm, "--set", "redis.persistence.existingClaim=radar-redis-data")
    assert "volumeClaimTemplates" not in statefulset["spec"]
    assert data_volume(statefulset) == {"name": "data", "persistentVolumeClaim": {"claimName": "radar-redis-data"}}
    assert options["--appendonly"] == "yes"


def test_without_a_volume_the_file_still_outlives_a_killed_redis_process(helm):
    # emptyDir lives as long as the pod: a restarted container (a crashed or killed Redis) reads it.
    statefulset, options = redis_objects(helm, "--set", "redis.persistence.enabled=false")
    assert "volumeClaimTemplates" not in statefulset["spec"]
    assert data_volume(statefulset) == {"name": "data", "emptyDir": {}}
    assert options["--appendonly"] == "yes" and options["--appendfsync"] == "everysec"


def test_image_has_waitaof():
    """Audit events wait for the disk with WAITAOF, which Redis has from 7.2 on."""
    tag = yaml.safe_load((CHART / "values.yaml").read_text())["redis"]["image"]["tag"]
    assert tuple(int(p) for p in tag.split("-")[0].split(".")[:2]) >= (7, 2), tag


@pytest.mark.parametrize("args, words", [
    (["--set", "redis.persistence.existingclaim=x"], "'existingclaim'"),
    (["--set", "redis.persistence.enabled=maybe"], "want boolean"),
])
def test_schema_rejects_bad_persistence_values(helm, args, words):
    proc = run_helm(helm, "template", RELEASE, str(CHART), *HOST, *args)
    assert proc.returncode != 0
    assert "/redis/persistence" in proc.stderr and words in proc.stderr, proc.stderr
