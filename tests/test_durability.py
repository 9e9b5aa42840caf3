"""What render says of the managed broker's saves, and the autosave it writes, from the readings
the inventory announces on it (stack/durability.py; the power cut itself: test_power_cut.py)."""

from helpers import run_cli, write_inventory

MANAGED = """\
project: lab
brokers:
  local:
    managed: true
    username: telegraf
    password: ${T_PW}
    clients: {esp32: "${E_PW}"}
streams:
  s: {broker: local, topic: "lab/{sensor}", format: {value: v}}
sensors:
SENSORS
"""


def render(tmp_path, sensors: int, interval: str):
    lines = "".join(f"  S{i}: {{stream: s, unit: m, interval: {interval}}}\n" for i in range(sensors))
    inventory = write_inventory(tmp_path, MANAGED.replace("SENSORS\n", lines))
    result = run_cli("render", "-i", str(inventory), "-o", str(tmp_path / "out"))
    assert result.exit_code == 0, result.output
    conf = (tmp_path / "out/mosquitto/mosquitto.conf").read_text()
    return result.output, conf


def test_a_school_scale_broker_saves_after_every_change(tmp_path):
    output, conf = render(tmp_path, 12, "60s")
    assert "autosave_on_changes true\nautosave_interval 1\n" in conf
    assert "broker local: each reading waiting for Telegraf is on disk before the next is taken" in output
    assert "an hour without Telegraf writes about 101 MB to the card" in output
    assert "warning: broker" not in output


def test_a_busy_broker_saves_a_second_of_readings_and_warns_of_the_card(tmp_path):
    output, conf = render(tmp_path, 600, "60s")  # 10 readings/s
    assert "autosave_on_changes true\nautosave_interval 10\n" in conf
    assert "readings waiting for Telegraf are saved every 10 (a second at the 10/s announced)" in output
    assert "an hour without Telegraf writes about 25.3 GB to the card" in output
    assert "warning: broker local: after an hour without Telegraf each save is the whole backlog" in output


def test_a_cloud_broker_has_no_saves_to_tell(tmp_path):
    text = MANAGED.replace("    managed: true\n", "    host: mqtt.example.org\n    port: 8883\n")
    text = text.replace('    clients: {esp32: "${E_PW}"}\n', "")
    inventory = write_inventory(tmp_path, text.replace("SENSORS\n", "  S0: {stream: s, unit: m}\n"))
    result = run_cli("render", "-i", str(inventory), "-o", str(tmp_path / "out"))
    assert result.exit_code == 0, result.output
    assert "broker " not in result.output
