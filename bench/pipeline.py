"""Readings/s into InfluxDB without loss, and publish-to-queryable latency (p50/p99), with the
real Mosquitto, Telegraf and InfluxDB: polysource's generated telegraf.conf (the seed's path: a
TLS broker with a window of 100, the test broker's), Telegraf's defaults for the same plugins, a broker
with a window of 10, and the managed broker's own rendered mosquitto.conf. Each generated config
also runs at the rate render announces for it. Prints a table; asserts nothing.

    bash scripts/services.sh && python bench/pipeline.py [--seconds 10] [--rates 200,1000,2500]
"""

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from conftest import MANAGED, seed_inventory  # noqa: E402
from helpers import write_inventory  # noqa: E402
from pipelines import issue, telegraf_to  # noqa: E402
from polysource.pipeline import load_stack, render_output  # noqa: E402
from polysource.stack import throughput  # noqa: E402
from services import (  # noqa: E402
    Certificates,
    InfluxDB,
    Mosquitto,
    RenderedMosquitto,
    Telegraf,
    fleet_publisher,
)

# Telegraf's defaults for the same plugins: only what is needed to connect and parse.
DEFAULTS = """\
[agent]
[[inputs.mqtt_consumer]]
  servers = ["ssl://localhost:{port}"]
  topics = ["polysource/capteurs"]
  username = "${{HIVEMQ_PASSWORD_USER}}"
  password = "${{HIVEMQ_PASSWORD}}"
  tls_ca = "/etc/telegraf/certs/hivemq-ca.pem"
  data_format = "json_v2"
  [[inputs.mqtt_consumer.json_v2]]
    measurement_name = "capteurs"
    [[inputs.mqtt_consumer.json_v2.tag]]
      path = "idCapteur"
    [[inputs.mqtt_consumer.json_v2.field]]
      path = "valeur"
      type = "float"
[[outputs.influxdb]]
  urls = ["${{POLYSOURCE_INFLUXDB_URL}}"]
  database = "polysource"
  username = "telegraf"
  password = "${{INFLUXDB_WRITE_PASSWORD}}"
"""


def measure(influxdb: InfluxDB, client, rate: int, seconds: float, run: int) -> dict:
    """Publish at rate for seconds; poll InfluxDB; first-seen time per reading."""
    base = run * 10_000_000
    sent: dict[float, float] = {}
    seen: dict[float, float] = {}
    done = threading.Event()

    def poll() -> None:
        while not done.is_set() or len(seen) < len(sent):
            now = time.monotonic()
            rows = influxdb.query(
                f"SELECT valeur FROM capteurs WHERE valeur >= {base} AND valeur < {base + 10_000_000}",
                db=influxdb.database,
            )
            for row in rows:
                seen.setdefault(row["valeur"], now)
            if done.is_set() and time.monotonic() - finished[0] > 30:
                return
            time.sleep(0.05)

    finished = [float("inf")]
    poller = threading.Thread(target=poll)
    poller.start()
    start = time.monotonic()
    for i in range(int(rate * seconds)):
        target = start + i / rate
        time.sleep(max(0.0, target - time.monotonic()))
        value = float(base + i)
        sent[value] = time.monotonic()
        payload = json.dumps({"valeur": value, "idCapteur": "B", "unite": "m"})
        client.publish("polysource/capteurs", payload, qos=1)
    elapsed = time.monotonic() - start
    finished[0] = time.monotonic()
    done.set()
    poller.join()
    latencies = sorted(seen[v] - sent[v] for v in sent if v in seen)
    return {
        "sent": len(sent),
        "stored": len(seen),
        "achieved": len(sent) / elapsed,
        "p50": statistics.median(latencies) if latencies else float("nan"),
        "p99": latencies[int(0.99 * (len(latencies) - 1))] if latencies else float("nan"),
    }


MANAGED_ACCOUNTS = {"telegraf": "bench-telegraf-pw", "esp32": "bench-esp32-pw"}


def flavours(broker: Mosquitto, narrow: Mosquitto):
    """(name, inventory, telegraf.conf in its place or None, the test broker or None: the managed one)."""
    seed = seed_inventory(broker)
    windowed = seed.replace("    username:", f"    window: {broker.window}\n    username:", 1)
    yield "generated", windowed, None, broker
    yield "defaults", seed, DEFAULTS.format(port=broker.tls_port), broker
    ten = seed_inventory(narrow).replace("    username:", f"    window: {narrow.window}\n    username:", 1)
    yield f"window{narrow.window}", ten, None, narrow
    yield "managed", MANAGED, None, None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--rates", default="200,1000,2500")
    parser.add_argument("--only", help="run only these configs, e.g. generated,managed")
    args = parser.parse_args()
    rates = [int(r) for r in args.rates.split(",")]
    tmp = Path(tempfile.mkdtemp(prefix="polysource-bench-"))
    certs = Certificates(tmp / "certs")
    certs.folder.mkdir()
    certs.make_ca()
    for name in ("mosquitto", "narrow", "influxdb"):
        (tmp / name).mkdir()
    # The test broker stands in for HiveMQ Cloud (max_inflight_messages 100); another has 10.
    broker = Mosquitto(tmp / "mosquitto", certs).start()
    narrow = Mosquitto(tmp / "narrow", certs, window=10).start()
    influxdb = InfluxDB(tmp / "influxdb").start()
    print(f"{'config':<10} {'window':>6} {'batch':>5} {'announced/s':>11} {'rate/s':>7} {'achieved/s':>10} "
          f"{'sent':>6} {'stored':>6} {'lost':>5} {'p50 ms':>7} {'p99 ms':>7}")  # fmt: skip
    run = 0
    try:
        for flavour, text, override, mosquitto in flavours(broker, narrow):
            if args.only and flavour not in args.only.split(","):
                continue
            folder = tmp / flavour
            folder.mkdir()
            shutil.copy(certs.ca, folder / "ca.pem")
            output = folder / "output"
            inventory = write_inventory(folder, text)
            render_output(inventory, output)
            stack = load_stack(inventory)
            announced = throughput.capacity(stack).total
            if override:
                (output / "telegraf/telegraf.conf").write_text(override)
            env = {
                "INFLUXDB_WRITE_PASSWORD": influxdb.write_password,
                "POLYSOURCE_INFLUXDB_URL": influxdb.url,
            }
            managed = None
            if mosquitto is None:
                (folder / "broker").mkdir()
                managed = RenderedMosquitto(
                    output / "mosquitto/mosquitto.conf", folder / "broker", MANAGED_ACCOUNTS, tls=issue(stack)
                )
                managed.start()
                telegraf_to(output, stack, managed.port)
                env["MOSQUITTO_TELEGRAF_PASSWORD"] = MANAGED_ACCOUNTS["telegraf"]
                client = fleet_publisher(managed.port, "esp32", MANAGED_ACCOUNTS["esp32"], managed.ca)
            else:
                env |= {"HIVEMQ_PASSWORD": mosquitto.password, "HIVEMQ_PASSWORD_USER": mosquitto.username}
                client = fleet_publisher(mosquitto.tls_port, mosquitto.username, mosquitto.password, certs.ca)
            window = mosquitto.window if mosquitto else next(iter(stack.brokers.values())).window
            batch = "1000" if override else str(stack.batch)
            telegraf = Telegraf(output, env, folder / "telegraf.log").start()
            try:
                for rate in rates if override else [round(announced), *rates]:
                    run += 1
                    r = measure(influxdb, client, rate, args.seconds, run)
                    lost = r["sent"] - r["stored"]
                    said = "-" if override else f"{announced:.0f}"  # render's figure: for its own config
                    print(f"{flavour:<10} {window:>6} {batch:>5} {said:>11} {rate:>7} "
                          f"{r['achieved']:>10.0f} {r['sent']:>6} {r['stored']:>6} {lost:>5} "
                          f"{1000 * r['p50']:>7.0f} {1000 * r['p99']:>7.0f}", flush=True)  # fmt: skip
            finally:
                telegraf.stop()
                client.disconnect()
                client.loop_stop()
                if managed:
                    managed.stop()
    finally:
        broker.stop()
        narrow.stop()
        influxdb.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
