"""publish and simulate against the real Mosquitto, Telegraf and InfluxDB (verify reads a deployed
stack's InfluxDB through the Docker API: tests/test_deploy.py and tests/test_converge.py)."""

from helpers import run_cli
from services import wait_for


def inventory_of(telegraf) -> str:
    return str(telegraf.output.parent / "inventory.yml")


def test_publish_sends_the_seed_reading(make_pipeline, influxdb):
    telegraf = make_pipeline().start()
    result = run_cli("publish", "Test_4G", "99.9", "-i", inventory_of(telegraf))
    assert result.exit_code == 0, result.output
    assert "acknowledged by ssl://localhost:" in result.output
    assert '{"valeur": 99.9, "idCapteur": "Test_4G", "unite": "m"}' in result.output
    wait_for(lambda: influxdb.points("capteurs"), 20, "the published reading")
    (point,) = influxdb.points("capteurs")
    assert (point["valeur"], point["idCapteur"]) == (99.9, "Test_4G")


def test_simulate_stays_within_the_sensor_range(make_pipeline, influxdb):
    telegraf = make_pipeline().start()
    result = run_cli("simulate", "-i", inventory_of(telegraf), "--rate", "20", "--duration", "2")
    assert result.exit_code == 0, result.output
    sent = int(result.output.rsplit("sent ", 1)[1].split()[0])
    assert 30 <= sent <= 41
    wait_for(lambda: len(influxdb.points("capteurs")) >= sent, 20, "every simulated reading")
    values = [p["valeur"] for p in influxdb.points("capteurs")]
    assert len(values) == sent
    assert all(0 <= v <= 100 for v in values)


def test_publish_needs_the_topic_levels(make_pipeline):
    telegraf = make_pipeline(topic_style="per-sensor")
    result = run_cli("publish", "Test_4G", "1", "-i", inventory_of(telegraf))
    assert result.exit_code == 1
    assert "needs {site}: pass --tag site=VALUE" in result.stderr
