"""The chart's values have one source, values.schema.json: the README tables and the defaults the templates
apply are generated from it (``make helm-docs``), values.yaml agrees with it and stays small, and a key
left out of values.yaml renders exactly as if it were set to its documented default."""
from __future__ import annotations

import copy
import json
import re
import subprocess
import sys

import yaml

from tests.support.helm import CHART, FIXTURES, ROOT, fixture_args, run_helm
from tools import helm_docs

SCHEMA = json.loads((CHART / "values.schema.json").read_text())
VALUES = yaml.safe_load((CHART / "values.yaml").read_text())


def test_generated_files_are_up_to_date():
    for path, text in helm_docs.expected().items():
        assert path.read_text() == text, f"{path.relative_to(ROOT)} is out of date: run `make helm-docs`"


def test_check_mode_passes_on_the_tree():
    proc = subprocess.run([sys.executable, str(ROOT / "tools" / "helm_docs.py"), "--check"],
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr


def test_every_key_has_a_description_and_a_default_and_values_yaml_agrees():
    assert helm_docs.problems(SCHEMA, VALUES) == []


def test_drift_between_values_yaml_and_the_schema_is_named():
    values = copy.deepcopy(VALUES)
    values["web"]["replicas"] = 3
    values["web"]["color"] = "blue"
    schema = copy.deepcopy(SCHEMA)
    del schema["properties"]["app"]["properties"]["logLevel"]["description"]
    found = helm_docs.problems(schema, values)
    assert any(line.startswith("values.yaml: web.replicas is 3") for line in found), found
    assert "values.yaml: web.color is not a key of values.schema.json" in found
    assert "values.schema.json: app.logLevel has no description" in found


def test_a_changed_default_changes_the_readme_and_the_template_defaults():
    schema = copy.deepcopy(SCHEMA)
    schema["properties"]["app"]["properties"]["sessionTtl"]["default"] = 7200
    assert "| `app.sessionTtl` | `7200` |" in helm_docs.values_section(schema, VALUES)
    assert "sessionTtl: 7200" in helm_docs.defaults_template(schema, VALUES)


def test_the_readme_documents_every_key_with_its_default():
    readme = (CHART / "README.md").read_text()
    for path, node in helm_docs.documented(SCHEMA):
        assert f"| `{path}` | `{helm_docs.show(node['default'])}` |" in readme.replace("\\|", "|"), path


def test_values_yaml_stays_small():
    lines = (CHART / "values.yaml").read_text().splitlines()
    assert len(lines) <= 120, f"values.yaml has {len(lines)} lines; move rarely changed keys to schema defaults"


def test_every_template_applies_the_defaults_first():
    for path in sorted((CHART / "templates").iterdir()):
        if path.name.startswith("_"):
            continue
        first = path.read_text().splitlines()[0]
        assert first == '{{- include "radar.applyDefaults" . -}}', path.name


def _all_defaults() -> dict:
    """Every documented key set to its schema default, as a values file would."""
    values: dict = {}
    for path, node in helm_docs.documented(SCHEMA):
        *parents, last = path.split(".")
        target = values
        for part in parents:
            target = target.setdefault(part, {})
        target[last] = copy.deepcopy(node["default"])
    return values


def _render(helm: str, *args: str) -> str:
    proc = run_helm(helm, "install", "rd", str(CHART), "--dry-run=client", "--namespace", "radar", *args)
    assert proc.returncode == 0, proc.stderr
    text = re.sub(r"LAST DEPLOYED: .*", "", proc.stdout)
    return re.sub(r'redis-password: ".*"', "redis-password: <generated>", text)


def test_keys_left_out_of_values_yaml_render_as_their_documented_defaults(helm, jwks_file, tmp_path):
    every = tmp_path / "every-default.yaml"
    every.write_text(yaml.safe_dump(_all_defaults()))
    on = ["--set", "inference.vllm.enabled=true", "--set", "web.autoscaling.enabled=true",
          "--set", "worker.autoscaling.enabled=true", "--set", "audit.sink=file",
          "--set", "screen.learnBackground=true", "--set", "background.configMap=site"]
    for name in [*(f.stem for f in sorted(FIXTURES.glob("*.yaml"))), "screen+all"]:
        fixture = fixture_args(name.split("+")[0], jwks_file) + (on if "+" in name else [])
        assert _render(helm, "-f", str(every), *fixture) == _render(helm, *fixture), name
