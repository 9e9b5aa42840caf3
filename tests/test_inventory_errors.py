"""Bad inventories: exit 2, one located line per problem, all at once, never a traceback."""

import pytest

from helpers import MINIMAL, run_cli, write_inventory

CASES = {
    "yaml syntax": ("project: [demo\n", ":2:1: YAML syntax"),
    "empty file": ("", ":1:1: the inventory is empty"),
    "top-level list": ("- a\n- b\n", ":1:1: expected a mapping at the top, got list"),
    "unknown key": (
        MINIMAL.replace("  cloud:\n", "  cloud:\n    hots: x\n"),
        ":4:5: brokers.cloud.hots: unknown key; did you mean 'host'?",
    ),
    "wrong type": (
        MINIMAL.replace("unit: m}", "unit: m, min: low}"),
        ":13:45: sensors.Test_4G.min: expected a number, got 'low'",
    ),
    "port not a number": (
        MINIMAL.replace("    username: pi\n", "    port: huit\n    username: pi\n"),
        ":5:11: brokers.cloud.port: expected an integer 1-65535, got 'huit'",
    ),
    "port out of range": (
        MINIMAL.replace("    username: pi\n", "    port: 70000\n    username: pi\n"),
        ":5:11: brokers.cloud.port: expected an integer 1-65535, got 70000",
    ),
    "unknown broker": (
        MINIMAL.replace("broker: cloud", "broker: clod"),
        ":9:13: streams.capteurs.broker: unknown broker 'clod' (known: cloud)",
    ),
    "unknown stream": (
        MINIMAL.replace("{stream: capteurs", "{stream: capteur"),
        ":13:21: sensors.Test_4G.stream: unknown stream 'capteur' (known: capteurs)",
    ),
    "duplicate sensor": (
        MINIMAL + "  Test_4G: {stream: capteurs, unit: mm}\n",
        ":14:3: sensors.Test_4G: duplicate key",
    ),
    "literal password": (
        MINIMAL.replace("${MQTT_PASSWORD}", "hunter2-literal"),
        ":6:15: brokers.cloud.password: a secret must be an environment reference",
    ),
    "unknown unit": (
        MINIMAL.replace("unit: m}", "unit: furlong}"),
        ":13:37: sensors.Test_4G.unit: unknown unit 'furlong'",
    ),
    "impossible platform": (
        MINIMAL + "storage: {influxdb: {version: 2}}\ntarget: {platform: linux/arm/v7}\n",
        ":15:20: target.platform: InfluxDB 2 images exist for amd64 and arm64 only",
    ),
    "missing section": (
        MINIMAL.split("streams:")[0],
        ":1:1: streams: required key is missing",
    ),
    "wildcard topic": (
        MINIMAL.replace("polysource/capteurs", "polysource/+"),
        ":10:12: streams.capteurs.topic: write {name} levels instead of MQTT wildcards",
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_inventory_is_reported_with_location(tmp_path, case):
    text, expected = CASES[case]
    inventory = write_inventory(tmp_path, text)
    result = run_cli("render", "-i", str(inventory), "-o", str(tmp_path / "out"))
    assert result.exit_code == 2, result.output
    assert f"{inventory}{expected}" in result.stderr
    assert "Traceback" not in result.output
    assert not (tmp_path / "out").exists(), "nothing is written for a bad inventory"


def test_all_problems_are_reported_at_once(tmp_path):
    text = MINIMAL.replace("broker: cloud", "broker: nope").replace("unit: m}", "unit: parsec}")
    text = text.replace("    username: pi\n", "    port: huit\n    username: pi\n")
    result = run_cli("render", "-i", str(write_inventory(tmp_path, text)), "-o", str(tmp_path))
    lines = result.stderr.strip().splitlines()
    assert result.exit_code == 2
    assert len(lines) == 3, lines
    assert [line.split(": ")[1] for line in lines] == [
        "brokers.cloud.port",
        "streams.capteurs.broker",
        "sensors.Test_4G.unit",
    ]


def test_literal_secret_is_not_echoed(tmp_path):
    text = MINIMAL.replace("${MQTT_PASSWORD}", "hunter2-literal")
    result = run_cli("render", "-i", str(write_inventory(tmp_path, text)), "-o", str(tmp_path / "o"))
    assert result.exit_code == 2
    assert "hunter2-literal" not in result.output


def test_missing_inventory_file(tmp_path):
    result = run_cli("render", "-i", str(tmp_path / "nope.yml"), "-o", str(tmp_path / "o"))
    assert result.exit_code == 2
    assert "nope.yml:1:1: cannot read" in result.stderr


def test_missing_ca_file(tmp_path):
    text = MINIMAL.replace("    username: pi\n", "    ca_file: certs/ca.pem\n    username: pi\n")
    result = run_cli("render", "-i", str(write_inventory(tmp_path, text)), "-o", str(tmp_path / "o"))
    assert result.exit_code == 2
    assert "brokers.cloud.ca_file: no such file" in result.stderr
