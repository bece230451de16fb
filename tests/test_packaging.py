"""What ships: the product wheel holds app/ and its knowledge, not the development package (sandbox EHR,
synthetic patients and their generator, vLLM stub, demo); the image's web target has no Java and no
PySpark; and without PySpark (the ``screen`` extra) the app still imports and serves, while ``radar
screen`` says which extra it needs."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

# Slow: builds the wheel and starts Python processes that import the app (make check leaves it out).
pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
CONTAINERFILE = ROOT / "launch" / "Containerfile"
DEV_WORDS = ("sandbox", "synth", "vllm_stub", "demo", "patients.ndjson", "truth.json", "ehrs.json", "clients.json")


def build_wheel(tmp_path: Path) -> zipfile.ZipFile:
    """Build the product wheel offline from a copy of the tree (dev/ included, so leaving it out is the
    configuration's doing) and open it."""
    src = tmp_path / "src"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    for folder in ("app", "dev", "launch", "templates", "static"):
        shutil.copytree(ROOT / folder, src / folder, ignore=ignore)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    subprocess.run([sys.executable, "-m", "pip", "wheel", str(src), "--no-deps", "--no-build-isolation", "--no-index",
                    "--quiet", "-w", str(tmp_path / "dist")], check=True, cwd=tmp_path, timeout=300)
    (wheel,) = (tmp_path / "dist").glob("radar_in_the_chart-*.whl")
    return zipfile.ZipFile(wheel)


def test_the_wheel_holds_the_product_and_not_the_development_package(tmp_path):
    wheel = build_wheel(tmp_path)
    names = wheel.namelist()
    info = next(n.split("/")[0] for n in names if n.split("/")[0].endswith(".dist-info"))
    assert {n.split("/")[0] for n in names} == {"app", info}
    assert [n for n in names if any(word in n for word in DEV_WORDS)] == []
    source = {p.relative_to(ROOT).as_posix() for p in (ROOT / "app").rglob("*.py") if "__pycache__" not in p.parts}
    assert source <= set(names)
    knowledge = {p.relative_to(ROOT).as_posix() for p in (ROOT / "app" / "knowledge" / "data").iterdir()
                 if p.name.endswith((".json.gz", ".md"))}
    assert "app/knowledge/data/orphanet.json.gz" in knowledge and knowledge <= set(names)
    entry_points = wheel.read(f"{info}/entry_points.txt").decode()
    assert "radar = app.cli:main" in entry_points and "sandbox" not in entry_points
    requires = [line for line in wheel.read(f"{info}/METADATA").decode().splitlines() if line.startswith("Requires-Dist")]
    spark = [line for line in requires if re.search(r"\b(pyspark|py4j)\b", line)]
    assert len(spark) == 2 and all('extra == "screen"' in line for line in spark)


def stages(text: str) -> dict[str, dict]:
    """The Containerfile's stages by name: the stage it builds on and its instructions (continuations joined)."""
    found, current = {}, None
    for line in re.sub(r"\\\n", " ", text).splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        keyword, _, rest = line.partition(" ")
        if keyword.upper() == "FROM":
            base, _, name = rest.partition(" AS ")
            current = found[name.strip()] = {"base": base.strip(), "lines": []}
        current["lines"].append(line)
    return found


def chain(found: dict[str, dict], name: str) -> list[str]:
    """Every instruction that goes into the image of stage ``name``, its base stages' first."""
    stage = found[name]
    return (chain(found, stage["base"]) if stage["base"] in found else []) + stage["lines"]


def test_the_web_image_has_no_java_and_no_spark_and_the_screen_image_has_both():
    text = CONTAINERFILE.read_text(encoding="utf-8")
    found = stages(text)
    assert list(found)[-1] == "web", "the web image must be the default (last) target"
    web = " ".join(chain(found, "web")).lower()
    assert not re.search(r"openjdk|\bjava\b|\bjre\b|pyspark|py4j|\[screen\]", web)
    screen = " ".join(chain(found, "screen"))
    assert "openjdk-17-jre-headless" in screen and '".[screen]"' in screen
    copied = [line.split()[1] for line in text.splitlines() if line.startswith("COPY ")]
    assert not [c for c in copied if c.startswith("dev")] and "launch/" not in copied


# Runs with PySpark and py4j unimportable, as in an installation without the `screen` extra: imports
# every module of app/, serves the app, ranks a Bundle with `radar rank`.
WITHOUT_SPARK = """
import sys
sys.modules.update(pyspark=None, py4j=None)
import contextlib, importlib, io, json, pkgutil
import httpx
import app
for module in pkgutil.walk_packages(app.__path__, "app."):
    importlib.import_module(module.name)
from app import create_app
from app.cli import main
from tests.servers import serve
served = serve(create_app({"RADAR_DATA_DIR": sys.argv[1], "REDIS_URL": ""}))
ready = httpx.get(served.url + "/readyz").status_code
served.stop()
ranked = io.StringIO()
with contextlib.redirect_stdout(ranked):
    rank = main(["rank", sys.argv[2]])
print(json.dumps({"ready": ready, "rank": rank, "line": json.loads(ranked.getvalue()),
                  "spark": sorted(m for m in sys.modules if m.split(".")[0] in ("pyspark", "py4j") and sys.modules[m])}))
"""
BUNDLE = {"resourceType": "Bundle", "type": "collection", "entry": [
    {"resource": {"resourceType": "Patient", "id": "p1", "gender": "female", "birthDate": "2015-01-01"}},
    {"resource": {"resourceType": "Condition", "id": "c1", "subject": {"reference": "Patient/p1"},
                  "code": {"text": "Seizure"}}}]}


def test_the_app_imports_serves_and_ranks_without_pyspark(tmp_path):
    bundle = tmp_path / "patient.json"
    bundle.write_text(json.dumps(BUNDLE), encoding="utf-8")
    done = subprocess.run([sys.executable, "-c", WITHOUT_SPARK, str(tmp_path), str(bundle)], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.splitlines()[-1])
    assert (result["ready"], result["rank"], result["spark"]) == (200, 0, [])
    assert result["line"]["patient"] == "p1" and result["line"]["suggestions"]


# `radar screen` and `radar learn-background` with PySpark and py4j unimportable: their exit codes.
SCREEN_WITHOUT_SPARK = """
import sys
sys.modules.update(pyspark=None, py4j=None)
from app.cli import main
out = sys.argv[1]
print([main(["screen", sys.argv[2], "--out", out + "/w.ndjson"]),
       main(["learn-background", sys.argv[2], "--out", out + "/bg.json.gz"])])
"""


def test_the_screen_without_pyspark_names_the_extra_it_needs(tmp_path):
    patients = str(ROOT / "dev" / "data" / "patients.ndjson.gz")
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "RADAR_DATA_DIR": str(tmp_path)}
    done = subprocess.run([sys.executable, "-c", SCREEN_WITHOUT_SPARK, str(tmp_path), patients], cwd=ROOT,
                          capture_output=True, text=True, env=env, timeout=120)
    assert done.stdout == "[1, 1]\n", done.stderr[-2000:]
    problem = ("PySpark is not installed here: install the screen extra (pip install 'radar-in-the-chart[screen]', "
               "and a Java 17 runtime) or use the screen image (launch/Containerfile, --target screen)")
    assert done.stderr == f"radar screen: {problem}\nradar learn-background: {problem}\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == []
