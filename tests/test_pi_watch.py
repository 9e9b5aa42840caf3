"""The Pi watching itself: the "Pi" dashboard's queries and the Pi's alert rules, run on the real
InfluxDB 1.8 and 2.7 over what Telegraf writes of its host, and judged as Grafana would."""

import base64
import shutil
import time
import urllib.parse
import urllib.request

import pytest
import yaml
from test_device import _FakeBroker

from conftest import seed_inventory
from helpers import write_inventory
from polysource.pipeline import fresh_files
from polysource.stack import host

ALERTING = "grafana/provisioning/alerting/polysource.yaml"
V1 = "{influxdb: {version: 1, database: polysource}}"


def host_lines(now: int) -> list[str]:
    """Ten minutes of a Pi in trouble: a card 91% full, throttled all along, one write refused,
    Telegraf's container in a restart loop (Grafana restarted once, long ago)."""
    minutes = [now - 60 * k for k in range(10, 0, -1)]
    lines = [
        f"pi_disk,path=/polysource/influxdb-data used_percent=91.0,free=1i,total=2i {t}" for t in minutes
    ]
    lines += [f"pi_throttle flags=327685i,throttled=1i,under_voltage=1i,capped=0i {t}" for t in minutes]
    lines += [f"pi_cpu,cpu=cpu-total usage_active=12.5 {t}" for t in minutes]
    lines += [f"pi_mem used_percent=40.0 {t}" for t in minutes]
    lines += [f"pi_temp,sensor=cpu_thermal_input temp=61.0 {t}" for t in minutes]
    errors = [0] * 7 + [3] * 3
    lines += [
        f"internal_write,output=influxdb metrics_written={100 * (i + 1)}i,write_errors={e}i {t}"
        for i, (t, e) in enumerate(zip(minutes, errors, strict=True))
    ]
    # a second Telegraf (telegraf.instances: 2) whose own counter stayed at 5 since it started:
    # merged with the first one's series, its 5 would hide the first one's new failures
    lines += [
        f"internal_write,output=influxdb,instance=2 metrics_written={100 * (i + 1) + 50}i,write_errors=5i {t}"
        for i, t in enumerate(minutes)
    ]
    restarts = [0] * 6 + [1, 2, 3, 4]  # a restart loop begins four minutes ago
    lines += [
        f"pi_container,service=telegraf restarts={r}i,running=1i,healthy=1i {t}"
        for t, r in zip(minutes, restarts, strict=True)
    ]
    lines += [f"pi_container,service=grafana restarts=1i,running=1i,healthy=1i {t}" for t in minutes]
    return lines


def post(url: str, authorization: str, lines: list[str]) -> None:
    request = urllib.request.Request(
        url, data="\n".join(lines).encode(), headers={"Authorization": authorization}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status == 204


def render(tmp_path, certs, storage: str) -> dict[str, str]:
    shutil.copy(certs.ca, tmp_path / "ca.pem")
    text = seed_inventory(_FakeBroker(), storage=storage) + '\nalerts: {webhook: "${ALERT_WEBHOOK_URL}"}\n'
    return fresh_files(write_inventory(tmp_path, text), tmp_path / "output")


def pi_rules(files: dict[str, str]) -> dict[str, dict]:
    document = yaml.safe_load(files[ALERTING])
    rules = [r for g in document["groups"] if g["name"] == "pi" for r in g["rules"]]
    return {r["labels"]["kind"]: r for r in rules}


def evaluate(rule: dict, run) -> bool:
    """Grafana's evaluation of A -> reduce B -> threshold C (no data: the rule's noDataState)."""
    a, b, c = (next(q for q in rule["data"] if q["refId"] == ref) for ref in "ABC")
    values = run(a["model"]["query"], a["relativeTimeRange"]["from"], None)
    if not values:
        return rule["noDataState"] == "Alerting"
    reducers = {"last": values[-1], "max": max(values), "mean": sum(values) / len(values), "sum": sum(values)}
    reduced = reducers[b["model"]["reducer"]]
    evaluator = c["model"]["conditions"][0]["evaluator"]
    limit = float(evaluator["params"][0])
    return reduced > limit if evaluator["type"] == "gt" else reduced < limit


def runner(version: int, server):
    """Runs a query as Grafana sends it: the rule's range (or an hour), the interval given."""

    def run(query: str, seconds: int, interval: str | None) -> list[float]:
        if version == 1:
            from influx_http import influxql

            sent = query.replace("$timeFilter", f"time > now() - {seconds}s")
            sent = sent.replace("$__interval", interval or "60s")
            rows = influxql(server.url, server.database, ("grafana", server.read_password), sent)
            return [v for r in rows for k, v in r.items() if k != "time" and isinstance(v, int | float)]
        sent = query.replace("v.timeRangeStart", f"-{seconds}s").replace("v.timeRangeStop", "now()")
        sent = sent.replace("v.windowPeriod", interval or "60s")
        return [float(r["_value"]) for r in server.flux(sent) if r.get("_value") not in (None, "")]

    return run


@pytest.mark.parametrize("version", [1, 2])
def test_pi_rules_fire_and_pi_panels_draw_on_the_real_influxdb(tmp_path, certs, version, influxdb, influxdb2):
    now = int(time.time())
    if version == 1:
        server = influxdb
        files = render(tmp_path, certs, V1)
        login = base64.b64encode(f"admin:{influxdb.admin_password}".encode()).decode()
        post(f"{influxdb.url}/write?db={influxdb.database}&precision=s", f"Basic {login}", host_lines(now))
    else:
        server = influxdb2
        files = render(
            tmp_path,
            certs,
            f"{{influxdb: {{version: 2, database: {influxdb2.bucket}, "
            f"organization: {influxdb2.organization}, retention: {influxdb2.retention}}}}}",
        )
        org = urllib.parse.quote(influxdb2.organization)
        url = f"{influxdb2.url}/api/v2/write?org={org}&bucket={influxdb2.bucket}&precision=s"
        post(url, f"Token {influxdb2.token}", host_lines(now))
    run = runner(version, server)

    rules = pi_rules(files)
    assert sorted(rules) == ["disk", "restarts", "throttled", "writes-failed", "writes-stopped"]
    firing = {kind: evaluate(rule, run) for kind, rule in rules.items()}
    expected = {
        "disk": True,
        "restarts": True,
        "throttled": True,
        "writes-failed": True,
        "writes-stopped": False,
    }
    assert firing == expected

    board = yaml.safe_load(files["grafana/dashboards/polysource-pi.json"])
    shown = {p["title"]: run(p["targets"][0]["query"], 3600, p["interval"]) for p in board["panels"]}
    expected = {
        host.CPU.title: 12.5,
        host.MEMORY.title: 40.0,
        host.DISK.title: 91.0,
        host.TEMPERATURE.title: 61.0,
        host.THROTTLED.title: 1.0,
        host.UNDER_VOLTAGE.title: 1.0,
    }
    for title, value in expected.items():
        assert shown[title] and set(shown[title]) == {value}, (title, shown[title])
    assert max(shown[host.WRITE_ERRORS.title]) == 3 and set(shown[host.WRITES.title]) == {100.0}
    assert max(shown[host.RESTARTS.title]) == 1 and sum(shown[host.RESTARTS.title]) == 4
