"""RADAR_BACKGROUND: a site background file is checked once at start-up; a bad one stops `radar check-config`
with a message naming the setting and why."""
from __future__ import annotations

import gzip
import json

import pytest

from app.cli import main
from app.config import ConfigError, load_settings
from app.rank import background as bg


def site_file(path, **changes):
    data = bg.site({"HP:0000118": 120, "HP:0001250": 30}, {}, 150, name="General Hospital")
    data.update(changes)
    bg.write(path, data)
    return path


def test_unset_is_the_shipped_background():
    assert load_settings({}).background is None


def test_a_site_file_is_read_and_described(tmp_path):
    path = site_file(tmp_path / "bg.json.gz")
    site = load_settings({"RADAR_BACKGROUND": str(path)}).background
    assert (site.path, site.name, site.records) == (path, "General Hospital", 150) and site.version


def gz(path, text: str):
    with gzip.open(path, "wt") as fh:
        fh.write(text)
    return path


@pytest.mark.parametrize("make, message", [
    (lambda p: p / "missing.json.gz", "does not exist (build it with `radar learn-background`)"),
    (lambda p: (p / "plain.json").write_text("{}") and p / "plain.json", "is not a readable gzip file (BadGzipFile)"),
    (lambda p: gz(p / "bad.gz", "{nope"), "is not valid JSON"),
    (lambda p: gz(p / "shipped.gz", json.dumps({"records": 5, "counts": {}, "pairs": {}})), "not a RaDaR background"),
    (lambda p: site_file(p / "neg.gz", counts={"HP:0000118": -1}), "counts must map HPO ids to whole numbers"),
    (lambda p: site_file(p / "big.gz", counts={"HP:0000118": 151}), "counts must map HPO ids to whole numbers"),
    (lambda p: site_file(p / "zero.gz", records=0), "records must be a positive whole number"),
    (lambda p: site_file(p / "noname.gz", name=""), "no name"),
])
def test_a_bad_file_fails_check_config_with_a_clear_message(make, message, tmp_path, monkeypatch, capsys):
    path = make(tmp_path)
    with pytest.raises(ConfigError) as err:
        load_settings({"RADAR_BACKGROUND": str(path)})
    assert str(err.value).startswith(f"RADAR_BACKGROUND: {path}") and message in str(err.value)
    monkeypatch.setenv("RADAR_BACKGROUND", str(path))
    monkeypatch.delenv("RADAR_EHRS", raising=False)
    assert main(["check-config"]) == 2
    assert capsys.readouterr().err == f"radar: configuration error: {err.value}\n"


def test_check_config_names_the_background_in_use(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("RADAR_EHRS", raising=False)
    monkeypatch.setenv("RADAR_BACKGROUND", str(site_file(tmp_path / "bg.json.gz")))
    assert main(["check-config"]) == 0
    assert "background: site 'General Hospital' (150 records" in capsys.readouterr().out
    monkeypatch.delenv("RADAR_BACKGROUND")
    assert main(["check-config"]) == 0
    assert "background: shipped default" in capsys.readouterr().out


def test_the_write_is_atomic_and_leaves_no_temporary_file(tmp_path):
    path = site_file(tmp_path / "bg.json.gz")
    assert [p.name for p in tmp_path.iterdir()] == ["bg.json.gz"]
    with gzip.open(path, "rt") as fh:
        assert json.load(fh)["format"] == "radar-background"
