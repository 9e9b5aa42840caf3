"""The stack's pipeline run outside Docker for capacity and power-cut tests (and benchmarks): the
managed broker's rendered mosquitto.conf, the generated telegraf.conf, the real Telegraf and
InfluxDB."""

import datetime
import json
import time
from collections.abc import Callable
from pathlib import Path

from conftest import MANAGED
from helpers import write_inventory
from polysource.pipeline import load_stack, render_output
from services import InfluxDB, RenderedMosquitto, Telegraf


def reading(value: int) -> str:
    return json.dumps({"valeur": float(value), "idCapteur": "Test_4G", "unite": "m"})


def stored(influxdb: InfluxDB) -> int:
    rows = influxdb.query("SELECT count(valeur) FROM capteurs", db=influxdb.database)
    return int(rows[0]["count"]) if rows else 0


def publish_at(client, rate: float, seconds: float, first: int = 0) -> int:
    """QoS 1 readings first, first+1, ... at `rate` a second for `seconds`; waits for the PUBACKs."""
    count = int(rate * seconds)
    start = time.monotonic()
    infos = []
    for i in range(count):
        time.sleep(max(0.0, start + i / rate - time.monotonic()))
        infos.append(client.publish("polysource/capteurs", reading(first + i), qos=1))
    for info in infos:
        info.wait_for_publish(timeout=30)
    return count


def telegraf_on(stack, output: Path, env: dict[str, str], broker) -> Telegraf:
    """The real Telegraf on output/, started once the broker has each stream's subscription."""
    ids = tuple(c for s in stack.streams.values() for c in s.client_ids())
    return Telegraf(output, env, output.parent / "telegraf.log", broker=broker, client_ids=ids)


def issue(stack) -> tuple[Path, Path] | None:
    """The managed broker's certificate and key as deploy issues them (polysource.pki), kept in
    the pki folder beside the inventory; None without TLS (insecure_lan)."""
    from polysource import pki

    tls = stack.managed_broker.tls
    if tls is None:
        return None
    pki.server_certificate(tls, datetime.datetime.now(datetime.UTC))
    return tls.folder / "server.pem", tls.folder / "server.key"


def telegraf_to(output: Path, stack, port: int) -> None:
    """telegraf.conf pointed at a broker outside Docker on `port`: the stack's own URL but for its
    host, `localhost` (a name the certificate is for), and port; the rendered tls_ca as written
    (Telegraf runs with output/telegraf at /etc/telegraf)."""
    conf = output / "telegraf/telegraf.conf"
    text = conf.read_text()
    (url,) = stack.managed_broker.telegraf_urls
    assert url in text
    conf.write_text(text.replace(url, url.replace("mosquitto:", "localhost:").rsplit(":", 1)[0] + f":{port}"))


def managed_pipeline(
    tmp_path: Path,
    influxdb: InfluxDB,
    text: str = MANAGED,
    edit: Callable[[str], str] = str,
    port: int | None = None,
    websocket_port: int | None = None,
):
    """The managed broker's rendered mosquitto.conf (passed through `edit`: a benchmark's variant)
    and telegraf.conf, run outside Docker (the broker on `port`: the inventory's, for boards)."""
    inventory = write_inventory(tmp_path, text)
    output = tmp_path / "output"
    render_output(inventory, output)
    conf = output / "mosquitto/mosquitto.conf"
    conf.write_text(edit(conf.read_text()))
    (tmp_path / "broker").mkdir()
    accounts = {"telegraf": "telegraf-capacity-pw", "esp32": "esp32-capacity-pw"}
    stack = load_stack(inventory)
    tls = issue(stack)
    broker = RenderedMosquitto(output / "mosquitto/mosquitto.conf", tmp_path / "broker", accounts, tls=tls)
    broker.port = port or broker.port
    broker.websocket_port = websocket_port
    broker.start()
    telegraf_to(output, stack, broker.port)
    env = {
        "MOSQUITTO_TELEGRAF_PASSWORD": accounts["telegraf"],
        "INFLUXDB_WRITE_PASSWORD": influxdb.write_password,
        "POLYSOURCE_INFLUXDB_URL": influxdb.url,
    }
    return inventory, broker, telegraf_on(load_stack(inventory), output, env, broker), accounts
