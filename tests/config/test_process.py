"""The settings of the processes around the app (gunicorn, the Spark commands), parsed in app.config."""
from __future__ import annotations

from pathlib import Path

import pytest

from app.config import ConfigError, WebServer, load_settings, web_server


def test_gunicorn_settings_default_and_parse():
    assert web_server({}) == WebServer("127.0.0.1:8000", 2, 8, "127.0.0.1", Path(".radar"))
    web = web_server({"RADAR_BIND": "0.0.0.0:8000", "RADAR_WEB_WORKERS": "4", "RADAR_WEB_THREADS": "16",
                      "RADAR_FORWARDED_ALLOW_IPS": "*", "RADAR_DATA_DIR": "/data"})
    assert web == WebServer("0.0.0.0:8000", 4, 16, "*", Path("/data"))
    assert web_server({"RADAR_FORWARDED_ALLOW_IPS": ""}).forwarded_allow_ips == ""  # no proxy is believed


@pytest.mark.parametrize("name, raw, message", [
    ("RADAR_WEB_WORKERS", "two", "RADAR_WEB_WORKERS: 'two' is not a whole number"),
    ("RADAR_WEB_THREADS", "0", "RADAR_WEB_THREADS: must be greater than zero"),
])
def test_a_bad_gunicorn_setting_names_itself(name, raw, message):
    with pytest.raises(ConfigError, match=message):
        web_server({name: raw})
    with pytest.raises(ConfigError, match=message):
        load_settings({"RADAR_EHRS": "", name: raw})


def test_screen_defaults_come_from_the_settings():
    settings = load_settings({"RADAR_EHRS": "", "RADAR_SPARK_MASTER": " spark://spark:7077 ",
                              "RADAR_SCREEN_ACTOR": "rare-disease team"})
    assert (settings.screen.spark_master, settings.screen.actor) == ("spark://spark:7077", "rare-disease team")
    unset = load_settings({"RADAR_EHRS": ""}).screen
    assert (unset.spark_master, unset.actor) == (None, None)
