"""What the managed broker's save after every change costs: bytes Mosquitto writes to disk per
reading (its /proc/PID/io write_bytes; each save rewrites the whole database and fsyncs it), and
how fast a backlog drains, with the real Mosquitto running the rendered mosquitto.conf, the
real Telegraf and InfluxDB. Beside it, the same file with the save every 60 s it had before.
Prints a table; asserts nothing.

    bash scripts/services.sh && python bench/broker_durability.py [--backlogs 600,6000] [--seconds 20]

Regimes: "keeping up" (10 readings/s for --seconds, Telegraf connected: readings go straight to it,
and the database is saved at each of its acknowledgements), and "backlog N" (Telegraf away while
N readings arrive at 100/s: each is queued, and each queued reading saves the database, which
holds the queue so far; then Telegraf back, and the time until InfluxDB holds them all).
"""

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from pipelines import managed_pipeline, publish_at, stored  # noqa: E402
from services import InfluxDB, RenderedMosquitto, fleet_publisher  # noqa: E402

RENDERED = "autosave_on_changes true\nautosave_interval 1\n"


def before(text: str) -> str:
    """The rendered file with the save every 60 s it had before."""
    assert RENDERED in text, "the rendered mosquitto.conf no longer saves after every change"
    return text.replace(RENDERED, "autosave_interval 60\n")


def written(broker: RenderedMosquitto) -> int:
    assert broker.process is not None
    for line in Path(f"/proc/{broker.process.pid}/io").read_text().splitlines():
        if line.startswith("write_bytes:"):
            return int(line.split()[1])
    raise RuntimeError("no write_bytes in /proc/PID/io")


def run(edit: Callable[[str], str], regime: str, backlog: int, seconds: float) -> dict:
    with tempfile.TemporaryDirectory(prefix="bench-durability-") as folder:
        tmp = Path(folder)
        influxdb = InfluxDB(tmp / "influxdb")
        influxdb.folder.mkdir()
        influxdb.start()
        try:
            _, broker, telegraf, accounts = managed_pipeline(tmp, influxdb, edit=edit)
            client = fleet_publisher(broker.port, "esp32", accounts["esp32"], broker.ca)
            try:
                if regime == "keeping up":
                    telegraf.start()
                    start = written(broker)
                    count = publish_at(client, 10, seconds)
                    time.sleep(2)
                    drain = None
                else:
                    telegraf.start()  # its persistent session
                    telegraf.stop()
                    start = written(broker)
                    count = publish_at(client, 100, backlog / 100)
                    began = time.monotonic()
                    telegraf.start()
                    while stored(influxdb) < count and time.monotonic() - began < 120:
                        time.sleep(0.05)
                    drain = time.monotonic() - began
                per_reading = (written(broker) - start) / count
                return {"count": count, "per_reading": per_reading, "drain": drain, "kept": stored(influxdb)}
            finally:
                client.disconnect()
                client.loop_stop()
                telegraf.stop()
                broker.stop()
        finally:
            influxdb.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backlogs", default="600,6000", help="readings waiting, comma-separated")
    parser.add_argument("--seconds", type=float, default=20, help="of readings at 10/s, keeping up")
    args = parser.parse_args()
    regimes = [("keeping up", 0)] + [("backlog", int(n)) for n in args.backlogs.split(",")]
    print("| mosquitto.conf | regime | readings | stored | written per reading | drain |")
    print("| --- | --- | --- | --- | --- | --- |")
    for label, edit in (("rendered (save after every change)", str), ("save every 60 s", before)):
        for regime, backlog in regimes:
            r = run(edit, regime, backlog, args.seconds)
            name = regime if regime == "keeping up" else f"backlog {backlog:,}"
            drain = "-" if r["drain"] is None else f"{r['drain']:.2f} s"
            print(
                f"| {label} | {name} | {r['count']:,} | {r['kept']:,} | "
                f"{r['per_reading'] / 1024:,.1f} KiB | {drain} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
