"""What render announces the stack can take, it takes: QoS 1 readings at the announced maximum
for 20 s, every one stored within 5 s of the last, through the real Mosquitto, Telegraf and
InfluxDB; and a backlog left by a Telegraf outage drains far faster than it grew.

Telegraf acknowledges a QoS 1 reading only once written, and the broker sends at most its window
of unacknowledged readings: with a batch larger than the window, Telegraf waited for its flush
interval and carried one window a second (20 readings/s on Mosquitto's default)."""

import shutil
import threading
import time
from pathlib import Path

import pytest

from conftest import MANAGED, seed_inventory
from helpers import run_cli, write_inventory
from pipelines import managed_pipeline, publish_at, stored, telegraf_on
from polysource.pipeline import load_stack, render_output
from polysource.stack import throughput
from services import InfluxDB, Mosquitto, Telegraf, fleet_publisher, wait_for

SECONDS = 20
CAUGHT_UP_S = 5


def announced(inventory: Path) -> float:
    return throughput.capacity(load_stack(inventory)).total


def takes_its_announced_maximum(telegraf: Telegraf, client, influxdb: InfluxDB, rate: float) -> None:
    """Telegraf started, `client` publishing at `rate` for SECONDS; both stopped after."""
    telegraf.start()
    try:
        _published_and_stored(client, influxdb, rate)
    finally:
        client.disconnect()
        client.loop_stop()
        telegraf.stop()


def _published_and_stored(client, influxdb: InfluxDB, rate: float) -> None:
    sent = publish_at(client, rate, SECONDS)
    last = time.monotonic()
    try:
        wait_for(lambda: stored(influxdb) >= sent, CAUGHT_UP_S, f"{sent} readings", interval=0.2)
    except AssertionError:
        pytest.fail(
            f"{stored(influxdb)} of {sent} readings stored {time.monotonic() - last:.1f} s after the last "
            f"(announced {rate:.0f}/s for {SECONDS} s)"
        )
    assert stored(influxdb) == sent


CLOUD = """\
project: windows
brokers:
  cloud:
    host: abc123.s1.eu.hivemq.cloud
    username: pi
    password: ${HIVEMQ_PASSWORD}
  school:
    host: mqtt.example.org
    username: pi
    password: ${HIVEMQ_PASSWORD}
streams:
  a: {broker: cloud, topic: "a/{sensor}"}
  b: {broker: school, topic: "b/{sensor}"}
sensors:
  one: {stream: a, unit: m}
  two: {stream: b, unit: m}
"""


def test_each_broker_has_its_window_and_telegraf_batches_no_more(tmp_path):
    """HiveMQ Cloud's 50, Mosquitto's 20 elsewhere; the batch is half the smallest; a managed broker
    is given its window in mosquitto.conf (100 unless the inventory says)."""
    stack = load_stack(write_inventory(tmp_path, CLOUD))
    assert {n: b.window for n, b in stack.brokers.items()} == {"cloud": 50, "school": 20}
    assert stack.batch == 10
    alone = load_stack(write_inventory(tmp_path, CLOUD.replace("broker: school", "broker: cloud")))
    assert alone.batch == 25
    wider = CLOUD.replace("    host: mqtt.example.org\n", "    host: mqtt.example.org\n    window: 400\n")
    assert load_stack(write_inventory(tmp_path, wider)).batch == 25
    managed = load_stack(write_inventory(tmp_path, MANAGED))
    assert (managed.brokers["local"].window, managed.batch) == (100, 50)
    render_output(
        write_inventory(tmp_path, MANAGED.replace("managed: true", "managed: true\n    window: 64")),
        tmp_path / "out",
    )
    assert "\nmax_inflight_messages 64\n" in (tmp_path / "out/mosquitto/mosquitto.conf").read_text()
    assert "\n  metric_batch_size = 32\n" in (tmp_path / "out/telegraf/telegraf.conf").read_text()


def test_render_announces_what_the_stack_takes_and_warns_past_it(tmp_path):
    inventory = write_inventory(tmp_path, CLOUD)
    result = run_cli("render", "-i", str(inventory), "-o", str(tmp_path / "out"))
    assert result.exit_code == 0, result.output
    assert "throughput: about 200 readings/s at most" in result.output
    assert "warning" not in result.output
    # 10,000 sensors every second on the school's broker: 10,000/s against a window of 20
    fleet = CLOUD + "".join(f"  s{i}: {{stream: b, unit: m, interval: 1s}}\n" for i in range(10_000))
    result = run_cli("render", "-i", str(write_inventory(tmp_path, fleet)), "-o", str(tmp_path / "out"))
    assert result.exit_code == 0, result.output
    assert (
        "warning: stream b announces 10,000 readings/s; broker school's window of 20 carries about 133/s"
        in (result.stderr)
    )
    assert "Telegraf's writes carry about 200/s: raise telegraf.instances" in result.stderr


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("0", "Input should be greater than or equal to 1"),
        ("65536", "Input should be less than or equal to 65535"),
        ("true", "expected an integer, got True"),
        ("'20'", "expected an integer, got '20'"),
        ("5e1", "expected an integer, got 50.0"),
    ],
)
def test_a_window_that_is_no_window_is_refused_where_written(tmp_path, value, message):
    text = CLOUD.replace("    host: mqtt.example.org\n", f"    host: mqtt.example.org\n    window: {value}\n")
    result = run_cli("render", "-i", str(write_inventory(tmp_path, text)), "-o", str(tmp_path / "out"))
    assert result.exit_code == 2
    assert f"inventory.yml:9:13: brokers.school.window: {message}" in result.output
    assert not (tmp_path / "out").exists()


def test_seed_path_takes_its_announced_maximum(tmp_path, certs, influxdb):
    """The seed's path: a TLS broker with HiveMQ's window of 50, the generated telegraf.conf."""
    broker = Mosquitto(tmp_path / "broker", certs, window=throughput.HIVEMQ_WINDOW)
    broker.folder.mkdir()
    broker.start()
    try:
        shutil.copy(certs.ca, tmp_path / "ca.pem")
        text = seed_inventory(broker).replace(
            "    username:", f"    window: {throughput.HIVEMQ_WINDOW}\n    username:", 1
        )
        inventory = write_inventory(tmp_path, text)
        render_output(inventory, tmp_path / "output")
        rate = announced(inventory)
        assert rate > 200  # the seed's fleet, 10,000 sensors every 60 s, is 167/s
        stack = load_stack(inventory)
        env = {
            "HIVEMQ_PASSWORD": broker.password,
            "INFLUXDB_WRITE_PASSWORD": influxdb.write_password,
            "POLYSOURCE_INFLUXDB_URL": influxdb.url,
        }
        telegraf = telegraf_on(stack, tmp_path / "output", env, broker)
        client = fleet_publisher(broker.tls_port, broker.username, broker.password, certs.ca)
        takes_its_announced_maximum(telegraf, client, influxdb, rate)
    finally:
        broker.stop()


def test_managed_broker_takes_its_announced_maximum(tmp_path, influxdb):
    inventory, broker, telegraf, accounts = managed_pipeline(tmp_path, influxdb)
    try:
        rate = announced(inventory)
        assert rate > 200
        client = fleet_publisher(broker.port, "esp32", accounts["esp32"], broker.ca)
        takes_its_announced_maximum(telegraf, client, influxdb, rate)
    finally:
        broker.stop()


def test_backlog_drains_ten_times_faster_than_it_grew(tmp_path, influxdb):
    """20 s without Telegraf at 10 readings/s: 200 wait at the managed broker; with Telegraf back,
    every reading (and those still coming) is stored within 5 s."""
    _, broker, telegraf, accounts = managed_pipeline(tmp_path, influxdb)
    client = fleet_publisher(broker.port, "esp32", accounts["esp32"], broker.ca)
    try:
        telegraf.start()  # its persistent session exists from now on
        telegraf.stop()
        sent = publish_at(client, 10, 20)
        done = threading.Event()
        more = [0]

        def keep_publishing() -> None:  # the fleet does not pause while Telegraf catches up
            while not done.is_set():
                more[0] += publish_at(client, 10, 1, first=sent + more[0])

        worker = threading.Thread(target=keep_publishing)
        worker.start()
        try:
            telegraf.start()
            back = time.monotonic()
            wait_for(lambda: stored(influxdb) >= sent, CAUGHT_UP_S, "the 200 readings of the outage", 0.2)
            caught_up = time.monotonic() - back
        finally:
            done.set()
            worker.join()
        wait_for(lambda: stored(influxdb) >= sent + more[0], CAUGHT_UP_S, "the readings after it", 0.2)
        assert stored(influxdb) == sent + more[0]
        assert caught_up < CAUGHT_UP_S
    finally:
        client.disconnect()
        client.loop_stop()
        telegraf.stop()
        broker.stop()
