"""README promises no test held before, with the real components: InfluxDB 2 at run time
(Telegraf's influxdb_v2 output; verify's Flux path is in tests/test_converge.py), and the
dashboards' own queries run against real InfluxDB 1.8 and 2.7."""

import json
import time

from services import wait_for

SEED_READING = {"valeur": 99.9, "idCapteur": "Test_4G", "unite": "m"}


def seed_through(make_pipeline, mosquitto, influx, **options):
    """The real Telegraf on the rendered config, and the seed's reading stored through it."""
    telegraf = make_pipeline(influx=influx, **options).start()
    client = mosquitto.client()
    client.publish("polysource/capteurs", json.dumps(SEED_READING), qos=1)
    client.close()
    wait_for(lambda: influx.points("capteurs"), 30, "the seed reading in InfluxDB")
    return telegraf


def test_influxdb2_end_to_end(make_pipeline, mosquitto, influxdb2):
    seed_through(make_pipeline, mosquitto, influxdb2)
    (point,) = [p for p in influxdb2.points("capteurs") if p["_field"] == "valeur"]
    assert (float(point["_value"]), point["idCapteur"], point["unite"]) == (99.9, "Test_4G", "m")


def grafana_macros(query: str) -> str:
    """What Grafana substitutes before sending a panel's query (last hour, 10 s windows)."""
    return (
        query.replace("$timeFilter", "time > now() - 1h")
        .replace("$__interval", "10s")
        .replace("v.timeRangeStart", "-1h")
        .replace("v.timeRangeStop", "now()")
        .replace("v.windowPeriod", "10s")
    )


def panels(output) -> list[dict]:
    boards = [json.loads(f.read_text()) for f in sorted((output / "grafana/dashboards").glob("*.json"))]
    return [panel for board in boards for panel in board["panels"]]


def panel_query(output, title: str) -> str:
    return next(p for p in panels(output) if p.get("title") == title)["targets"][0]["query"]


def overview_queries(output) -> tuple[str, str]:
    """The overview's variable query, and its repeated panel's query as Grafana sends it for the
    repeat of sensor Test_4G (a regex-escaped value in InfluxQL, a JSON list in Flux)."""
    board = json.loads((output / "grafana/dashboards/polysource-overview.json").read_text())
    (variable,) = board["templating"]["list"]
    (panel,) = [p for p in board["panels"] if p.get("repeat")]
    name = variable["name"]
    query = panel["targets"][0]["query"].replace(f"${{{name}:json}}", '["Test_4G"]')
    return variable["query"], grafana_macros(query.replace(f"${name}", "Test_4G"))


def test_dashboard_queries_return_the_reading_from_influxdb_1(make_pipeline, mosquitto, influxdb):
    telegraf = seed_through(make_pipeline, mosquitto, influxdb)
    query = grafana_macros(panel_query(telegraf.output, "Test 4G"))
    from influx_http import influxql

    reader = ("grafana", influxdb.read_password)
    found = influxql(influxdb.url, influxdb.database, reader, query)
    assert [r["mean"] for r in found if r["mean"] is not None] == [99.9]
    choices, repeated = overview_queries(telegraf.output)
    assert [r["value"] for r in influxql(influxdb.url, influxdb.database, reader, choices)] == ["Test_4G"]
    found = influxql(influxdb.url, influxdb.database, reader, repeated)
    assert [r["mean"] for r in found if r["mean"] is not None] == [99.9]


def test_dashboard_queries_return_the_reading_from_influxdb_2(make_pipeline, mosquitto, influxdb2):
    telegraf = seed_through(make_pipeline, mosquitto, influxdb2)
    time.sleep(0.5)
    found = influxdb2.flux(grafana_macros(panel_query(telegraf.output, "Test 4G")))
    assert [float(r["_value"]) for r in found] == [99.9]
    choices, repeated = overview_queries(telegraf.output)
    assert [r["_value"] for r in influxdb2.flux(choices)] == ["Test_4G"]
    assert [float(r["_value"]) for r in influxdb2.flux(repeated)] == [99.9]


def test_influxdb2_sends_no_telemetry_with_the_stacks_settings(tmp_path, certs):
    """The stack's InfluxDB 2 environment, given to the real influxd (no flag): its running
    configuration says reporting is disabled, as 1.8 and Grafana are opted out too."""
    import shutil
    import urllib.request

    from test_device import _FakeBroker

    from conftest import seed_inventory
    from helpers import write_inventory
    from polysource.pipeline import load_stack
    from services import InfluxDB2

    shutil.copy(certs.ca, tmp_path / "ca.pem")
    text = seed_inventory(_FakeBroker(), storage="{influxdb: {version: 2, retention: 30d}}")
    stack = load_stack(write_inventory(tmp_path, text))
    (service,) = [s for s in stack.services if s.name == "influxdb"]
    env = {k: v for k, v in service.environment.items() if k.startswith("INFLUXD_")}
    assert env == {"INFLUXD_REPORTING_DISABLED": "true"}
    influx = InfluxDB2(tmp_path / "influxd", env=env)
    (tmp_path / "influxd").mkdir()
    influx.start()
    try:
        request = urllib.request.Request(
            f"{influx.url}/api/v2/config", headers={"Authorization": f"Token {influx.token}"}
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            config = json.loads(response.read())["config"]
        assert config["reporting-disabled"] is True, config
    finally:
        influx.stop()
