"""The generated defaults lose nothing when Telegraf or InfluxDB goes away for a while."""

import json
import time

from conftest import seed_inventory
from helpers import steadily
from services import Mosquitto, wait_for


def reading(value: float, sensor: str = "Test_4G") -> str:
    return json.dumps({"valeur": value, "idCapteur": sensor, "unite": "m"})


def stored_values(influxdb) -> set[float]:
    return {p["valeur"] for p in influxdb.points("capteurs")}


def test_nothing_lost_while_telegraf_is_down(make_pipeline, mosquitto, influxdb):
    telegraf = make_pipeline().start()  # the first connection creates the persistent session
    telegraf.stop()
    client = mosquitto.client()
    expected = {float(i) for i in range(1000)}
    for value in sorted(expected):
        client.publish("polysource/capteurs", reading(value), qos=1)
    client.close()
    telegraf.start()
    wait_for(lambda: len(stored_values(influxdb)) >= 1000, 90, "1,000 readings", interval=1)
    assert stored_values(influxdb) == expected


def test_nothing_lost_while_influxdb_is_down(make_pipeline, mosquitto, influxdb):
    telegraf = make_pipeline().start()
    client = mosquitto.client()
    send = lambda value: client.publish("polysource/capteurs", reading(value), qos=1)  # noqa: E731
    with steadily(send, every=0.05) as sent:  # 20 readings/s, as a busy classroom would
        time.sleep(3)
        influxdb.stop()
        time.sleep(30)
        influxdb.start(initialise=False)
        time.sleep(3)
    client.close()
    expected = set(sent)
    assert len(expected) > 600
    wait_for(lambda: stored_values(influxdb) >= expected, 90, "every reading after the outage", 1)
    assert stored_values(influxdb) == expected
    assert not telegraf.exited()


def test_bad_payloads_do_no_harm(make_pipeline, mosquitto, influxdb):
    telegraf = make_pipeline().start()
    client = mosquitto.client()
    bad = [
        "not json at all",
        json.dumps({"idCapteur": "Test_4G", "unite": "m"}),  # value missing
        json.dumps({"valeur": "quatre", "idCapteur": "Test_4G", "unite": "m"}),  # value a string
        json.dumps({"valeur": 5000.0, "idCapteur": "Test_4G", "unite": "m", "pad": "x" * 1_000_000}),
        "",
    ]
    good = [float(i) for i in range(10)]
    for i, value in enumerate(good):
        client.publish("polysource/capteurs", bad[i % len(bad)], qos=1)
        client.publish("polysource/capteurs", reading(value), qos=1)
    client.close()
    wait_for(lambda: set(good) <= stored_values(influxdb), 30, "every good reading")
    assert stored_values(influxdb) == {*good, 5000.0}  # the 1 MB reading is valid, and kept
    assert not telegraf.exited()
    log = telegraf.log.read_text()
    for rejection in (
        "invalid JSON provided, unable to parse: not json at all",
        'the path "valeur" doesn\'t exist',
        'unable to convert field "valeur" to type float',
    ):
        assert f"E! [inputs.mqtt_consumer::capteurs] Error in plugin: {rejection}" in log


def test_telegraf_is_back_within_seconds_of_the_broker(tmp_path_factory, certs, make_pipeline, influxdb):
    """A 20 s broker outage: Telegraf's MQTT client retries every second (max_reconnect_interval),
    not on a backoff doubled to 16 s by then, and the reading published on the broker's return is
    stored at once."""
    broker = Mosquitto(tmp_path_factory.mktemp("outage-broker"), certs, persistence=True).start()
    try:
        telegraf = make_pipeline(text=seed_inventory(broker))
        telegraf.broker = broker
        telegraf.start()
        client_id = next(iter(telegraf.client_ids))
        connected = lambda: broker.log.read_text(errors="replace").count(f" as {client_id} (")  # noqa: E731
        wait_for(lambda: connected() >= 1, 30, "Telegraf's first connection")
        before = connected()
        broker.stop()
        time.sleep(20)
        broker.start()
        back = time.monotonic()
        wait_for(lambda: connected() > before, 30, "Telegraf connected again")
        delay = time.monotonic() - back
        client = broker.client()
        client.publish("polysource/capteurs", reading(42.0), qos=1)
        client.close()
        wait_for(lambda: 42.0 in stored_values(influxdb), 10, "the reading sent on the broker's return")
    finally:
        broker.stop()
    assert delay <= 2.5, f"Telegraf connected again {delay:.1f} s after the broker was back"
