"""Render time for 10, 1,000 and 10,000 sensors, in-process and as a whole command, with the
command's peak memory; the same with a threshold per sensor and alerts on; and the start-up time
of `polysource --help`. Prints a table; asserts nothing.

    python bench/render.py [--repeat 3]
"""

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from polysource.pipeline import fresh_files

UNITS = ["°C", "%RH", "hPa", "ppm", "m", "V", "lux", "L"]


def inventory(n: int, alerts: bool = False) -> dict:
    sensors = {
        f"S{i:05d}": {
            "stream": "capteurs" if i % 2 else "sites",
            "unit": UNITS[i % len(UNITS)],
            "min": 0,
            "max": 100,
            "group": f"group-{i % 20:02d}",
            **({"thresholds": [{"value": 50 + i % 7, "color": "red"}]} if alerts else {}),
        }
        for i in range(n)
    }
    return {
        **({"alerts": {"webhook": "${HOOK}"}} if alerts else {}),
        "project": "bench",
        "brokers": {"cloud": {"host": "broker.example.test", "username": "pi", "password": "${P}"}},
        "streams": {
            "capteurs": {
                "broker": "cloud",
                "topic": "polysource/capteurs",
                "format": {"value": "valeur", "sensor": "idCapteur", "unit": "unite"},
            },
            "sites": {"broker": "cloud", "topic": "polysource/{site}/{sensor}"},
        },
        "sensors": sensors,
    }


def timed(action, repeat: int) -> float:
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        action()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


PEAK = (
    "import resource, sys\n"
    "from pathlib import Path\n"
    "from polysource.pipeline import fresh_files\n"
    "fresh_files(Path(sys.argv[1]), Path(sys.argv[2]))\n"
    "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)\n"
)


def peak_mb(path: Path, out: Path) -> float:
    """Peak resident memory of one render in a fresh interpreter."""
    found = subprocess.run([sys.executable, "-c", PEAK, str(path), str(out)], check=True, capture_output=True)
    return int(found.stdout.split()[-1]) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    polysource = [sys.executable, "-m", "polysource"]
    print(f"{'sensors':>15} {'in-process s':>13} {'command s':>10} {'ms/sensor':>10} {'peak MB':>8}")
    with tempfile.TemporaryDirectory() as tmp:
        for n, alerts in ((10, False), (1_000, False), (10_000, False), (10_000, True)):
            path = Path(tmp) / f"inv-{n}-{alerts}.yml"
            path.write_text(yaml.safe_dump(inventory(n, alerts), allow_unicode=True))
            out = Path(tmp) / f"out-{n}-{alerts}"
            in_process = timed(lambda p=path, o=out: fresh_files(p, o), args.repeat)
            command = timed(
                lambda p=path, o=out: subprocess.run(
                    [*polysource, "render", "-i", str(p), "-o", str(o)], check=True, capture_output=True
                ),
                args.repeat,
            )
            label = f"{n:,}" + (" + alerts" if alerts else "")
            print(
                f"{label:>15} {in_process:>13.3f} {command:>10.3f} {1000 * in_process / n:>10.3f}"
                f" {peak_mb(path, out):>8.0f}"
            )
    help_time = timed(lambda: subprocess.run([*polysource, "--help"], check=True, capture_output=True), 5)
    print(f"\npolysource --help: {help_time:.3f} s (median of 5)")


if __name__ == "__main__":
    main()
