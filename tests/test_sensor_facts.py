"""A sensor's interval is a fact of the stack model: its board's when a board reads it, read the
same by the alert rules, the panels, `status` and the firmware."""

import json

import yaml

from helpers import INVENTORIES, run_cli, write_inventory
from polysource.field.silence import classify
from polysource.pipeline import load_stack

LAB = INVENTORIES / "lab-local.yml"
BOARD_SENSORS = ("H_serre", "T_serre", "L_serre", "V_batterie")  # serre-node, every 5m


def test_a_sensor_a_board_reads_reports_at_the_boards_interval():
    stack = load_stack(LAB)
    for sensor in BOARD_SENSORS:
        facts = stack.sensors[sensor]
        assert (facts.interval_s, facts.device, facts.silent_s) == (300, "serre-node", 900), sensor
    assert stack.devices["serre-node"].interval_s == 300
    assert stack.sensors["N_cuve"].interval_s == 10  # no board: its own interval
    # 4 board sensors every 300 s, the others at their own: the rate Telegraf's buffer is sized by
    assert stack.rate_per_s == sum(1 / s.interval_s for s in stack.sensors.values())


def test_rules_panels_and_status_use_the_boards_interval(tmp_path):
    """Before: the silence rule looked back 180 s (3 x the sensor's default 60 s) for a board that
    sends every 5 minutes, so it fired between every two readings."""
    out = tmp_path / "out"
    assert run_cli("render", "-i", str(LAB), "-o", str(out)).exit_code == 0
    rules = yaml.safe_load((out / "grafana/provisioning/alerting/polysource.yaml").read_text())
    silent = {
        r["labels"]["sensor"]: r["data"][0]["relativeTimeRange"]["from"]
        for g in rules["groups"]
        for r in g["rules"]
        if r["labels"]["kind"] == "silent"
    }
    assert {s: silent[s] for s in BOARD_SENSORS} == dict.fromkeys(BOARD_SENSORS, 900)
    assert silent["N_cuve"] == 30
    panel = next(
        p
        for f in (out / "grafana/dashboards").glob("*.json")
        for p in json.loads(f.read_text())["panels"]
        if p.get("title") == "Batterie nœud serre" and p["type"] == "timeseries"
    )
    assert panel["interval"] == "300s"
    stack = load_stack(LAB)
    now = 1_800_000_000.0
    states = {s.sensor: s.state for s in classify(stack, {"H_serre": (now - 400, 50.0)}, now)}
    assert states["H_serre"] == "ok"  # 400 s ago: between two of the board's readings and one late


def test_a_sensor_interval_shorter_than_its_boards_is_refused_located(tmp_path):
    inventory = write_inventory(
        tmp_path,
        """\
        project: demo
        brokers:
          lab:
            managed: true
            username: telegraf
            password: ${MQTT_PASSWORD}
            clients: {esp32: "${ESP32_PASSWORD}"}
        streams:
          sites: {broker: lab, topic: "polysource/{sensor}", format: {value: value}}
        sensors:
          T_serre: {stream: sites, unit: °C, interval: 30s}
          H_serre: {stream: sites, unit: "%", interval: 10m}
        devices:
          node: {stream: sites, sensors: [T_serre, H_serre], username: esp32, modem: wifi, interval: 5m}
        """,
    )
    result = run_cli("render", "-i", str(inventory), "-o", str(tmp_path / "out"))
    assert result.exit_code != 0
    assert result.output.count("\n") == 1, result.output  # one problem, one line
    assert "inventory.yml:11:48: sensors.T_serre.interval: board 'node' sends it every 5m" in result.output
    assert "H_serre" not in result.output  # longer than the board's: kept, the board sends more often
    assert not (tmp_path / "out").exists()
