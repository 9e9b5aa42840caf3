"""Two real Telegrafs share one subscription at the real Mosquitto 2 (`$share/<project>/...`):
the broker hands each reading to one of them, and none is lost while one is stopped."""

import dataclasses
import json
import re
import shutil
import time

from conftest import seed_inventory
from services import wait_for


def deliveries(mosquitto, client_id: str) -> int:
    """Readings the broker sent to this session (its debug log names each PUBLISH it sends)."""
    text = mosquitto.log.read_text(errors="replace")
    return len(
        re.findall(
            rf"Sending PUBLISH to {re.escape(client_id)} \(d\d, q1, r0, m\d+, 'polysource/capteurs'", text
        )
    )


def stored_values(influxdb) -> list[float]:
    """Every stored point's value, duplicates included (each Telegraf stamps a reading with its
    own receipt time: a reading delivered twice is two points)."""
    return sorted(p["valeur"] for p in influxdb.points("capteurs"))


def publish(mosquitto, values) -> None:
    client = mosquitto.client()
    for value in values:
        payload = {"valeur": value, "idCapteur": "Test_4G", "unite": "m"}
        client.publish("polysource/capteurs", json.dumps(payload), qos=1)
    client.close()


def test_two_telegrafs_share_the_readings_and_lose_none_when_one_stops(
    make_pipeline, mosquitto, influxdb, tmp_path
):
    text = seed_inventory(mosquitto, "tls", "shared") + "telegraf: {instances: 2}\n"
    first = make_pipeline(text=text)
    assert (  # $$: Telegraf reads it back as $ (a bare $share would be an environment reference)
        'topics = ["$$share/polysource/polysource/capteurs"]'
        in (first.output / "telegraf/telegraf.conf").read_text()
    )
    one, two = first.client_ids  # the stream's session ids, -1 and -2
    first = dataclasses.replace(first, env={**first.env, "POLYSOURCE_INSTANCE": "1"}, client_ids=(one,))
    # In containers each Telegraf has its own network; here both share the host's: the second
    # one's health endpoint moves off :8080, nothing else of the rendered config changes.
    output2 = tmp_path / "output2"
    shutil.copytree(first.output, output2)
    conf = output2 / "telegraf/telegraf.conf"
    conf.write_text(
        conf.read_text().replace('service_address = "http://:8080"', 'service_address = "http://:8081"')
    )
    assert "http://:8081" in conf.read_text()
    second = dataclasses.replace(
        first,
        output=output2,
        env={**first.env, "POLYSOURCE_INSTANCE": "2"},
        client_ids=(two,),
        log=tmp_path / "telegraf-2.log",
    )
    try:
        first.start()
        second.start()
        publish(mosquitto, [float(i) for i in range(100)])
        wait_for(lambda: len(stored_values(influxdb)) == 100, 60, "100 readings stored by two Telegrafs")
        split = (deliveries(mosquitto, one), deliveries(mosquitto, two))
        assert sum(split) == 100 and min(split) >= 30, f"the broker should share the readings: {split}"

        second.stop()
        publish(mosquitto, [float(i) for i in range(100, 200)])
        wait_for(lambda: len(stored_values(influxdb)) >= 140, 60, "the other Telegraf storing on alone")
        second.start()  # Mosquitto kept the stopped one's share in its session: it arrives now
        wait_for(
            lambda: len(stored_values(influxdb)) == 200, 60, "every reading, the stopped one's share too"
        )
        time.sleep(2)  # a duplicate would still be on its way
        assert stored_values(influxdb) == [float(i) for i in range(200)], "each reading stored once"
    finally:
        second.stop()
        first.stop()  # a copy of the fixture's Telegraf: the fixture does not know this process
