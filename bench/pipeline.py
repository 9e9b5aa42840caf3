"""Readings/s into InfluxDB without loss, and publish-to-queryable latency (p50/p99), with the
real Mosquitto, Telegraf and InfluxDB: polysource's generated telegraf.conf against Telegraf's
defaults for the same plugins. Prints a table; asserts nothing.

    bash scripts/services.sh && python bench/pipeline.py [--seconds 10] [--rates 50,200,500]
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

from conftest import seed_inventory  # noqa: E402
from helpers import write_inventory  # noqa: E402
from polysource.pipeline import render_output  # noqa: E402
from services import Certificates, InfluxDB, Mosquitto, Telegraf  # noqa: E402

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


def measure(influxdb: InfluxDB, broker: Mosquitto, rate: int, seconds: float, run: int) -> dict:
    """Publish at rate for seconds; poll InfluxDB; first-seen time per reading."""
    base = run * 10_000_000
    sent: dict[float, float] = {}
    seen: dict[float, float] = {}
    client = broker.client()
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
        client.client.publish("polysource/capteurs", payload, qos=1)
    elapsed = time.monotonic() - start
    finished[0] = time.monotonic()
    done.set()
    poller.join()
    client.close()
    latencies = sorted(seen[v] - sent[v] for v in sent if v in seen)
    return {
        "sent": len(sent),
        "stored": len(seen),
        "achieved": len(sent) / elapsed,
        "p50": statistics.median(latencies) if latencies else float("nan"),
        "p99": latencies[int(0.99 * (len(latencies) - 1))] if latencies else float("nan"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--rates", default="50,200,500,1000")
    args = parser.parse_args()
    rates = [int(r) for r in args.rates.split(",")]
    tmp = Path(tempfile.mkdtemp(prefix="polysource-bench-"))
    certs = Certificates(tmp / "certs")
    certs.folder.mkdir()
    certs.make_ca()
    (tmp / "mosquitto").mkdir()
    (tmp / "influxdb").mkdir()
    broker = Mosquitto(tmp / "mosquitto", certs).start()
    influxdb = InfluxDB(tmp / "influxdb").start()
    print(f"{'config':<10} {'rate/s':>7} {'achieved/s':>10} {'sent':>6} {'stored':>6} "
          f"{'lost':>5} {'p50 ms':>7} {'p99 ms':>7}")  # fmt: skip
    run = 0
    try:
        for flavour in ("generated", "defaults"):
            folder = tmp / flavour
            folder.mkdir()
            shutil.copy(certs.ca, folder / "ca.pem")
            output = folder / "output"
            render_output(write_inventory(folder, seed_inventory(broker)), output)
            if flavour == "defaults":
                (output / "telegraf/telegraf.conf").write_text(DEFAULTS.format(port=broker.tls_port))
            env = {
                "HIVEMQ_PASSWORD": broker.password,
                "HIVEMQ_PASSWORD_USER": broker.username,
                "INFLUXDB_WRITE_PASSWORD": influxdb.write_password,
                "POLYSOURCE_INFLUXDB_URL": influxdb.url,
            }
            telegraf = Telegraf(output, env, folder / "telegraf.log").start()
            try:
                for rate in rates:
                    run += 1
                    r = measure(influxdb, broker, rate, args.seconds, run)
                    print(f"{flavour:<10} {rate:>7} {r['achieved']:>10.0f} {r['sent']:>6} "
                          f"{r['stored']:>6} {r['sent'] - r['stored']:>5} "
                          f"{1000 * r['p50']:>7.0f} {1000 * r['p99']:>7.0f}", flush=True)  # fmt: skip
            finally:
                telegraf.stop()
    finally:
        broker.stop()
        influxdb.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
