"""Backup and restore of 1 million readings on the tests' dockerd with the stand-in images
(real InfluxDB 1.8 inside): time to back up, archive size, time to restore onto a fresh stack.
Prints figures; asserts only that every reading came back.

    bash scripts/services.sh && python bench/backup.py [--readings 1000000]
"""

import argparse
import base64
import random
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from images import build_all  # noqa: E402

from conftest import DEPLOY_SECRETS, deploy_inventory, stand_in_binaries  # noqa: E402
from helpers import write_inventory  # noqa: E402
from services import DockerEngine, free_port  # noqa: E402

SENSORS = 10
BATCH = 20_000


def polysource(*args: str) -> float:
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "polysource", *args], capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"polysource {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return time.perf_counter() - start


def write(port: int, lines: list[str]) -> None:
    login = base64.b64encode(f"admin:{DEPLOY_SECRETS['INFLUXDB_ADMIN_PASSWORD']}".encode()).decode()
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/write?db=polysource&precision=s", data="\n".join(lines).encode()
    )
    request.add_header("Authorization", f"Basic {login}")
    with urllib.request.urlopen(request, timeout=120) as answer:
        assert answer.status == 204


def count(port: int) -> int:
    from influx_http import influxql

    login = ("admin", DEPLOY_SECRETS["INFLUXDB_ADMIN_PASSWORD"])
    rows = influxql(f"http://127.0.0.1:{port}", "polysource", login, 'SELECT count("valeur") FROM "capteurs"')
    return int(rows[0]["count"]) if rows else 0


def main() -> None:
    import docker

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--readings", type=int, default=1_000_000)
    total = parser.parse_args().readings
    engine = DockerEngine().start()
    tmp = Path(tempfile.mkdtemp(prefix="polysource-bench-"))
    try:
        images = build_all(docker.DockerClient(base_url=engine.url), stand_in_binaries())
        ports = {"project": f"b{uuid.uuid4().hex[:6]}", "mqtt": free_port(), "influxdb": free_port()}
        ports["grafana"] = free_port()
        (tmp / ".env").write_text("".join(f"{k}={v}\n" for k, v in DEPLOY_SECRETS.items()))
        # the readings span months; InfluxDB published on loopback for the bench's bulk writes
        ports["influxdb_extra"] = f", retention: inf, publish: '127.0.0.1:{ports['influxdb']}'"
        inventory = write_inventory(tmp, deploy_inventory(engine.url, images, ports), "stack.yml")
        where = ["-i", str(inventory), "-o", str(tmp / "output")]
        polysource("render", *where)
        polysource("deploy", *where)
        start = int(time.time()) - total // SENSORS * 10  # one reading per sensor every 10 s
        began = time.perf_counter()
        rng = random.Random(1)
        level = [20.0] * SENSORS  # a random walk per sensor, one decimal, as a real sensor reads
        for offset in range(0, total, BATCH):
            lines = []
            for i in range(offset, min(offset + BATCH, total)):
                level[i % SENSORS] = round(level[i % SENSORS] + rng.uniform(-0.5, 0.5), 1)
                lines.append(
                    f"capteurs,idCapteur=S{i % SENSORS},unite=m valeur={level[i % SENSORS]}"
                    f" {start + (i // SENSORS) * 10}"
                )
            write(ports["influxdb"], lines)
        loading = time.perf_counter() - began
        stored = count(ports["influxdb"])
        backup_s = polysource("backup", "--to", str(tmp / "backups"), *where)
        (archive,) = (tmp / "backups").glob("*.tar.gz")
        polysource("down", "--volumes", *where)
        polysource("deploy", *where)
        restore_s = polysource("restore", str(archive), *where)
        back = count(ports["influxdb"])
        polysource("down", "--volumes", *where)
    finally:
        engine.stop()
    size = archive.stat().st_size
    shutil.rmtree(tmp, ignore_errors=True)
    print(f"readings written        {stored:>12,}  ({loading:.1f} s through /write)")
    print(f"backup                  {backup_s:>12.1f} s")
    print(f"archive                 {size / 1e6:>12.1f} MB  ({size / max(stored, 1):.2f} bytes per reading)")
    print(f"restore (fresh stack)   {restore_s:>12.1f} s")
    print(f"readings back           {back:>12,}")
    if back != stored:
        raise SystemExit("readings were lost")


if __name__ == "__main__":
    main()
