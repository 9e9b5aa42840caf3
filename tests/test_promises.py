"""README promises no test held before, with the real components: InfluxDB 2 at run time
(Telegraf's influxdb_v2 output, verify's Flux path), and the dashboards' own queries run against
real InfluxDB 1.8 and 2.7."""

import json
import time

from helpers import run_cli
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


def test_influxdb2_end_to_end_and_verify_through_flux(make_pipeline, mosquitto, influxdb2):
    telegraf = seed_through(make_pipeline, mosquitto, influxdb2)
    (point,) = [p for p in influxdb2.points("capteurs") if p["_field"] == "valeur"]
    assert (float(point["_value"]), point["idCapteur"], point["unite"]) == (99.9, "Test_4G", "m")
    result = run_cli(
        "verify", "Test_4G", "-i", str(telegraf.output.parent / "inventory.yml"), "--timeout", "20"
    )
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[-1].split()[:2] == ["ok", "stored"]


def grafana_macros(query: str) -> str:
    """What Grafana substitutes before sending a panel's query (last hour, 10 s windows)."""
    return (
        query.replace("$timeFilter", "time > now() - 1h")
        .replace("$__interval", "10s")
        .replace("v.timeRangeStart", "-1h")
        .replace("v.timeRangeStop", "now()")
        .replace("v.windowPeriod", "10s")
    )


def panel_query(output, title: str) -> str:
    board = json.loads(next((output / "grafana/dashboards").glob("*.json")).read_text())
    return next(p for p in board["panels"] if p.get("title") == title)["targets"][0]["query"]


def test_dashboard_queries_return_the_reading_from_influxdb_1(make_pipeline, mosquitto, influxdb):
    telegraf = seed_through(make_pipeline, mosquitto, influxdb)
    query = grafana_macros(panel_query(telegraf.output, "Test 4G"))
    from polysource.field.influx import influxql

    found = influxql(influxdb.url, influxdb.database, ("grafana", influxdb.read_password), query)
    assert [r["mean"] for r in found if r["mean"] is not None] == [99.9]


def test_dashboard_queries_return_the_reading_from_influxdb_2(make_pipeline, mosquitto, influxdb2):
    telegraf = seed_through(make_pipeline, mosquitto, influxdb2)
    time.sleep(0.5)
    found = influxdb2.flux(grafana_macros(panel_query(telegraf.output, "Test 4G")))
    assert [float(r["_value"]) for r in found] == [99.9]
