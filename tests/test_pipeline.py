"""The seed, end to end, with the real Mosquitto, Telegraf and InfluxDB."""

import json

import pytest

from services import wait_for

SEED_READING = {"valeur": 99.9, "idCapteur": "Test_4G", "unite": "m"}


@pytest.mark.parametrize("transport", ["tls", "wss"])
def test_seed_reading_reaches_influxdb(make_pipeline, mosquitto, influxdb, transport):
    telegraf = make_pipeline(transport=transport).start()
    client = mosquitto.client(transport)
    client.publish("polysource/capteurs", json.dumps(SEED_READING), qos=1)
    client.close()
    wait_for(lambda: influxdb.points("capteurs"), 30, "the seed reading in InfluxDB")
    (point,) = influxdb.points("capteurs")
    assert point["valeur"] == 99.9
    assert point["idCapteur"] == "Test_4G"
    assert point["unite"] == "m"
    assert not telegraf.exited()


def test_topic_per_sensor_reaches_influxdb(make_pipeline, mosquitto, influxdb):
    make_pipeline(topic_style="per-sensor").start()
    client = mosquitto.client()
    client.publish("polysource/serre/H_serre", json.dumps({"value": 61.5}), qos=1)
    client.close()
    wait_for(lambda: influxdb.points("mesures"), 30, "the per-sensor reading in InfluxDB")
    (point,) = influxdb.points("mesures")
    assert point["value"] == 61.5
    assert (point["site"], point["sensor"]) == ("serre", "H_serre")
