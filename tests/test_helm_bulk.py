"""The Bulk client's limits and the EHR's storage hosts in the Helm chart: the screen CronJob passes
``screen.bulk`` as ``RADAR_BULK_*`` and ``ehrs[].bulkFileHosts`` as ``bulk_file_hosts``, and the app
reads what the chart renders."""
from __future__ import annotations

import json

from app.config import BulkLimits, load_settings
from app.smart.keys import generate_keys
from tests.support.helm import EPIC, SCREEN, env_of, run_helm, screen_container, validate
from tests.support.helm import template as render

MIB = 1 << 20
STORAGE = "https://bulk-files.hospital.example"


def test_screen_gets_the_bulk_limits_and_the_storage_hosts(helm):
    objects = render(helm, *SCREEN, "--set", "screen.bulk.maxExportMb=8000", "--set", "screen.bulk.readTimeout=30",
                     "--set-json", f'ehrs[0].bulkFileHosts=["{STORAGE}"]')
    validate(objects)
    env = {k: v.get("value") for k, v in env_of(screen_container(objects)).items()}
    settings = load_settings({"RADAR_EHRS": env["RADAR_EHRS"], "RADAR_JWKS": _jwks(),
                              **{k: v for k, v in env.items() if k.startswith("RADAR_BULK_")}}, chart_secrets=False)
    assert settings.bulk == BulkLimits(export_bytes=8000 * MIB, read_timeout=30, deadline=18000)
    assert settings.ehr_for(EPIC).bulk_file_hosts == (STORAGE,)


def test_schema_refuses_a_storage_host_with_a_path_and_a_zero_limit(helm):
    for args in (["--set-json", 'ehrs[0].bulkFileHosts=["https://files.example/bucket"]'],
                 ["--set", "screen.bulk.deadline=0"]):
        proc = run_helm(helm, "template", "r", "helm", "-f", SCREEN[1], *args)
        assert proc.returncode != 0 and "values don't meet the specifications of the schema" in proc.stderr


def _jwks() -> str:
    return json.dumps(generate_keys().as_dict(private=True))
