"""The benchmarks still run (they print figures and assert nothing, so nothing else notices when
one rots): each once, at its smallest, against the real components."""

import subprocess
import sys

import pytest

from helpers import ROOT
from services import Telegraf, influx_binaries


def bench(*args: str, timeout: float) -> str:
    done = subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    return done.stdout


def test_render_bench_prints_its_table():
    out = bench("bench/render.py", "--repeat", "1", timeout=120)
    rows = [line.split() for line in out.splitlines()[1:5]]
    assert [row[0] for row in rows] == ["10", "1,000", "10,000", "10,000"]
    assert rows[3][1:3] == ["+", "alerts"] and all(float(row[-1]) > 0 for row in rows)


@pytest.mark.services
def test_pipeline_bench_stores_every_reading():
    Telegraf.binary()  # each fails in CI, skips elsewhere, when the component is missing
    influx_binaries(1)
    out = bench("bench/pipeline.py", "--seconds", "1", "--rates", "20", timeout=180)
    rows = [line.split() for line in out.splitlines()[1:]]
    # config window batch announced/s rate/s achieved/s sent stored lost p50 p99; each generated
    # config also at the rate render announces for it
    assert [(r[0], r[1], r[2]) for r in rows] == [
        ("generated", "100", "50"), ("generated", "100", "50"),
        ("defaults", "100", "1000"),
        ("window10", "10", "5"), ("window10", "10", "5"),
        ("managed", "100", "50"), ("managed", "100", "50"),
    ]  # fmt: skip
    assert all(r[8] == "0" and r[6] == r[7] for r in rows), out


@pytest.mark.services
def test_board_bench_measures_bytes_per_reading_and_per_reconnect():
    from board_host import require_vendor

    require_vendor()
    out = bench("bench/board.py", "--minutes", "3", "--scale", "30", timeout=240)
    figures = {line.split()[0]: line for line in out.splitlines()}
    assert "per" in figures and "full" in figures and "resumed" in figures, out
    per_reading = float(figures["per"].split("B in all")[0].split()[-1])
    resumed_up = int(figures["resumed"].split()[2])
    assert per_reading <= 300, f"more than 300 bytes a reading in steady state: {out}"
    assert resumed_up < 1024, f"a resumed reconnect sends a KB or more: {out}"


@pytest.mark.services
def test_broker_durability_bench_prints_what_saves_cost():
    Telegraf.binary()
    influx_binaries(1)
    out = bench("bench/broker_durability.py", "--seconds", "2", "--backlogs", "50", timeout=240)
    rows = [[cell.strip() for cell in line.split("|")[1:-1]] for line in out.splitlines()[2:]]
    assert [row[1] for row in rows] == ["keeping up", "backlog 50"] * 2
    assert all(row[2] == row[3] for row in rows), out  # every reading stored
    assert all(row[4].endswith("KiB") for row in rows), out
