"""Panels right at every time range: a sensor reporting every 60 s is a line at 1 h, 6 h, 24 h and
30 d, not scattered dots.

Grafana buckets a panel's query by $__interval (InfluxQL) or v.windowPeriod (Flux): the range
divided by the panel's width in points, rounded by its interval ladder, and never below the panel's
minimum interval (or the datasource's timeInterval when the panel has none). This test computes
that interval as Grafana does (`roundInterval` of @grafana/data's rangeutil, about 1,000 points),
runs the rendered panel's own query on the real InfluxDB 1.8 and 2.7 over a month of readings
taken every 60 s (with jitter), and counts the buckets that hold a value.
"""

import base64
import json
import random
import shutil
import time
import urllib.error
import urllib.parse
import urllib.request
from datetime import datetime

import pytest
from test_device import _FakeBroker

from conftest import seed_inventory
from helpers import write_inventory
from polysource.pipeline import render_output
from polysource.stack import host

POINTS_WIDE = 1000
RANGES = {"1h": 3600, "6h": 6 * 3600, "24h": 86400, "30d": 30 * 86400}
# Grafana's interval ladder (@grafana/data rangeutil roundInterval), in ms, from 1 s up.
LADDER = [
    (1500, 1000), (3500, 2000), (7500, 5000), (12500, 10000), (17500, 15000), (25000, 20000),
    (45000, 30000), (90000, 60000), (210000, 120000), (450000, 300000), (750000, 600000),
    (1050000, 900000), (1500000, 1200000), (2700000, 1800000), (5400000, 3600000),
    (9000000, 7200000), (16200000, 10800000), (32400000, 21600000), (86400000, 43200000),
]  # fmt: skip


def round_interval(ms: float) -> int:
    return next((nice for below, nice in LADDER if ms < below), 86400000)


def duration_ms(text: str) -> int:
    units = {"s": 1000, "m": 60000, "h": 3600000, "d": 86400000}
    return int(text[:-1]) * units[text[-1]]


def grafana_interval_ms(range_s: int, panel: dict, datasource_interval: str) -> int:
    """As Grafana's query runner: the panel's maxDataPoints when set (grafanalib sets 100 by
    default), else its width in pixels; never below the panel's or the datasource's interval."""
    low = duration_ms(panel.get("interval") or datasource_interval)
    points = panel.get("maxDataPoints") or POINTS_WIDE
    return max(round_interval(range_s * 1000 / points), low)


def month_of_readings() -> list[tuple[int, float]]:
    """(Unix seconds, value): every 60 s for 30 days and an hour, each up to 5 s late or early
    around a minute's start, where Grafana's 60 s buckets begin: the hardest case for a line."""
    rng = random.Random(7)
    now = int(time.time()) // 60 * 60
    start = now - RANGES["30d"] - 3600
    return [(t + rng.randint(-5, 5), 20.0 + (t % 3600) / 360.0) for t in range(start, now, 60)]


def render(tmp_path, certs, storage: str) -> tuple[dict, str]:
    """The seed's group dashboard panel for Test_4G, and the datasource's timeInterval."""
    shutil.copy(certs.ca, tmp_path / "ca.pem")
    text = seed_inventory(_FakeBroker(), storage=storage).replace(
        "unit: m, min: 0", "unit: m, decimals: 1, min: 0"
    )
    output = tmp_path / "output"
    render_output(write_inventory(tmp_path, text), output)
    board = json.loads((output / "grafana/dashboards/polysource-tests.json").read_text())
    (panel,) = board["panels"]
    datasources = (output / "grafana/provisioning/datasources/influxdb.yaml").read_text()
    ds_interval = datasources.split("timeInterval:")[1].split()[0].strip("'\"")
    return panel, ds_interval


def assert_drawn_as_a_line(name: str, times_ms: list[float], interval_ms: int, panel: dict) -> None:
    """As Grafana draws the points: two points further apart than the query's interval have a null
    between them (InfluxQL's fill(null), or the one Grafana inserts between Flux windows, its
    insertNulls default), and spanNulls joins across it only when the gap is shorter. A reading
    every 60 s, up to 5 s early or late, leaves a 60 s bucket empty now and then (its neighbour
    got two): that must never break the line, at any range."""
    span = panel["fieldConfig"]["defaults"]["custom"]["spanNulls"]
    assert "insertNulls" not in panel["fieldConfig"]["defaults"]["custom"], "fixed: it breaks long ranges"
    breaks = [
        b - a for a, b in zip(times_ms, times_ms[1:], strict=False) if b - a > interval_ms and b - a >= span
    ]
    assert times_ms and not breaks, (
        f"{name}: gaps of {breaks[:3]} ms break the line ({interval_ms} ms buckets)"
    )


def write_month(url: str, authorization: str) -> None:
    """A month of readings into InfluxDB's write endpoint, 10,000 lines a request. The first hour
    may fall before a 30-day bucket's retention (InfluxDB 2 drops points by whole shard groups, a
    day each: between 00:00 and 01:00 UTC the oldest readings are a day's group too old), which it
    answers 422 "partial write", the rest written: those points are outside every range shown."""
    rows = [f"capteurs,idCapteur=Test_4G,unite=m valeur={v} {t}" for t, v in month_of_readings()]
    for i in range(0, len(rows), 10000):
        body = "\n".join(rows[i : i + 10000]).encode()
        request = urllib.request.Request(url, data=body, headers={"Authorization": authorization})
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                assert response.status == 204
        except urllib.error.HTTPError as error:
            answer = error.read().decode(errors="replace")
            if error.code != 422 or "outside retention policy" not in answer:
                raise AssertionError(f"InfluxDB refused the write: {error.code} {answer}") from None


def test_influxdb1_panels_hold_a_value_in_every_bucket_at_every_range(tmp_path, certs, influxdb):
    from influx_http import influxql

    panel, ds_interval = render(tmp_path, certs, "{influxdb: {version: 1, database: polysource}}")
    login = base64.b64encode(f"admin:{influxdb.admin_password}".encode()).decode()
    write_month(f"{influxdb.url}/write?db={influxdb.database}&precision=s", f"Basic {login}")
    query = panel["targets"][0]["query"]
    for name, range_s in RANGES.items():
        interval = grafana_interval_ms(range_s, panel, ds_interval)
        sent = query.replace("$timeFilter", f"time > now() - {range_s}s").replace(
            "$__interval", f"{interval}ms"
        )
        rows = influxql(influxdb.url, influxdb.database, ("admin", influxdb.admin_password), sent)
        filled = [r for r in rows[1:-1] if r["mean"] is not None]  # the edge buckets are partial
        share = len(filled) / max(1, len(rows) - 2)
        assert share > 0.6, f"{name}: {interval} ms buckets, {share:.0%} hold a value (dots, not a line)"
        assert_drawn_as_a_line(name, [1000 * r["time"] for r in filled], interval, panel)


def test_influxdb2_panels_hold_a_value_in_every_window_at_every_range(tmp_path, certs, influxdb2):
    storage = (
        f"{{influxdb: {{version: 2, database: {influxdb2.bucket}, organization: {influxdb2.organization}, "
        f"retention: {influxdb2.retention}}}}}"
    )
    panel, ds_interval = render(tmp_path, certs, storage)
    org = urllib.parse.quote(influxdb2.organization)
    url = f"{influxdb2.url}/api/v2/write?org={org}&bucket={influxdb2.bucket}&precision=s"
    write_month(url, f"Token {influxdb2.token}")
    query = panel["targets"][0]["query"]
    for name, range_s in RANGES.items():
        interval = grafana_interval_ms(range_s, panel, ds_interval)
        sent = (
            query.replace("v.timeRangeStart", f"-{range_s}s")
            .replace("v.timeRangeStop", "now()")
            .replace("v.windowPeriod", f"{interval}ms")
        )
        rows = influxdb2.flux(sent)
        windows = range_s * 1000 // interval
        assert len(rows) >= 0.6 * windows - 2, f"{name}: {len(rows)} of {windows} windows hold a value"
        times = [1000 * datetime.fromisoformat(r["_time"].replace("Z", "+00:00")).timestamp() for r in rows]
        assert_drawn_as_a_line(name, times, interval, panel)


@pytest.mark.parametrize("every", ["1s", "60s", "15m"])
def test_each_panel_buckets_no_finer_than_its_sensor_reports(tmp_path, certs, every):
    shutil.copy(certs.ca, tmp_path / "ca.pem")
    text = seed_inventory(_FakeBroker()).replace("group: tests}", f"group: tests, interval: {every}}}")
    output = tmp_path / "output"
    render_output(write_inventory(tmp_path, text), output)
    seconds = duration_ms(every) // 1000
    for board in (output / "grafana/dashboards").glob("*.json"):
        found = json.loads(board.read_text())
        if board.name == "polysource-pi.json":  # the Pi's own metrics, every minute
            assert {p["interval"] for p in found["panels"]} == {f"{host.EVERY_S}s"}
            continue
        assert len(found["tags"]) == len(set(found["tags"])), found["tags"]
        for panel in found["panels"]:
            if panel["type"] == "timeseries":
                assert panel["interval"] == f"{seconds}s", (board.name, panel["interval"])
                # a day is drawn at the finest the sensor allows on a 1,000-pixel panel: a
                # maxDataPoints (grafanalib's default is 100) would make it 15-minute means
                day = grafana_interval_ms(RANGES["24h"], panel, "10s")
                assert day == max(60000, 1000 * seconds), (board.name, day)
                custom = panel["fieldConfig"]["defaults"]["custom"]
                assert custom["spanNulls"] == 3 * seconds * 1000 and "insertNulls" not in custom
