"""Retention and downsampling converged by deploy on the real InfluxDB (the 1.8 and 2.7 built
from source, in the stand-in images): the means appear in the long-term series, for the past
(backfill) and as new readings arrive (continuous query / task), and a changed plan converges."""

import time

from deploy_helpers import containers, deploy, flux, influx, write_lines

from helpers import run_cli
from services import wait_for

# One minute of readings every 10 s whose mean (2) is neither their median (0), their min (0),
# their max (11), their first (0) nor their last (11): a tier computing any other aggregate fails.
MINUTE = [0, 0, 0, 0, 1, 11]
MEAN = 2.0


def minutes_of_readings(start: int, minutes: int) -> list[str]:
    return [
        f"capteurs,idCapteur=Test_4G,unite=m valeur={MINUTE[i % 6]} {start + 10 * i}"
        for i in range(6 * minutes)
    ]


def test_influxdb1_keeps_means_and_follows_a_changed_plan(deploy_project):
    project = deploy_project(influxdb_extra=", retention: 30d")
    deploy(project)
    # Twenty minutes of readings, one every 10 s, before any tier exists.
    start = (int(time.time()) // 600) * 600 - 1800
    write_lines(project, minutes_of_readings(start, 20), precision="s")
    project.edit("retention: 30d", "retention: 30d, downsample: [{every: 1m, keep: 104w}]")
    plan = run_cli(*project.args("deploy", "--dry-run"))
    assert "downsample none -> 1m means kept 104w" in plan.output, plan.output
    deploy(project)
    (policy,) = [p for p in influx(project, "SHOW RETENTION POLICIES") if p["name"] == "rp_1m"]
    assert policy["duration"] == "17472h0m0s"
    means = influx(project, 'SELECT "valeur", "idCapteur", "unite" FROM "rp_1m"."capteurs"')
    assert len(means) == 20 and {m["valeur"] for m in means} == {MEAN}, "backfill: one mean per minute"
    assert {(m["idCapteur"], m["unite"]) for m in means} == {("Test_4G", "m")}, "tags kept"
    assert [q["name"] for q in influx(project, "SHOW CONTINUOUS QUERIES")] != []

    # A new plan: 10 s means instead; the old query goes, the new one runs on new readings.
    project.edit("every: 1m", "every: 10s")
    deploy(project)
    names = {row["name"] for row in influx(project, "SHOW CONTINUOUS QUERIES")}
    assert names and all("_10s_" in n for n in names), names
    now = int(time.time())
    write_lines(project, [f"capteurs,idCapteur=Test_4G,unite=m valeur=7 {now}"], precision="s")
    wait_for(
        lambda: influx(project, f'SELECT * FROM "rp_10s"."capteurs" WHERE time >= {now - 10}s'),
        40,
        "the continuous query's mean of a new reading",
    )
    # A reading that lands late, in an interval whose mean was already computed (a write in
    # flight at the boundary, Telegraf's buffer): the query's RESAMPLE window takes it in.
    late = (now // 10) * 10 - 40
    write_lines(project, [f"capteurs,idCapteur=Test_4G,unite=m valeur=9 {late}"], precision="s")
    wait_for(
        lambda: influx(project, f'SELECT * FROM "rp_10s"."capteurs" WHERE time = {late}s'),
        40,
        "the mean of a reading that came late",
    )
    # The 1m series stays until its own retention: polysource never drops readings.
    assert influx(project, 'SELECT count("valeur") FROM "rp_1m"."capteurs"')[0]["count"] == 20


def test_influxdb2_keeps_means_in_a_bucket_filled_by_a_task(deploy_project):
    project = deploy_project(influx_version=2, influxdb_extra=", retention: 30d")
    deploy(project)
    start = (int(time.time()) // 600) * 600 - 1800
    write_lines(project, minutes_of_readings(start, 20), "s")
    # and one reading in the minute in progress: its mean is the task's to write, once complete
    now = int(time.time())
    write_lines(project, [f"capteurs,idCapteur=Test_4G,unite=m valeur=50 {now}"], "s")
    project.edit("retention: 30d", "retention: 30d, downsample: [{every: 1m, keep: 104w}]")
    deploy(project)

    def means():
        return flux(
            project,
            'from(bucket: "polysource_1m") |> range(start: -2h) |> filter(fn: (r) => r._field == "valeur")',
        )

    found = [r for r in means() if r["_time"] < f"{time.strftime('%Y-%m-%dT%H:%M', time.gmtime(now))}"]
    assert len(found) == 20 and {float(r["_value"]) for r in found} == {MEAN}, found[:3]
    assert all(r["_time"].endswith(":00Z") for r in means()), "a partial mean, stamped mid-interval"
    # A reading that lands late, in an interval the task already computed: its next run (every
    # minute, over the last 10) takes it in, as InfluxDB 1's RESAMPLE does.
    late = (int(time.time()) // 60) * 60 - 120
    write_lines(project, [f"capteurs,idCapteur=Test_4G,unite=m valeur=1000 {late + 5}"], "s")
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(late + 60))
    wait_for(
        lambda: [float(r["_value"]) for r in means() if r["_time"] == stamp] == [1000.0],
        100,
        "the task's mean of a reading that came late",
    )
    assert {(r["idCapteur"], r["unite"]) for r in found} == {("Test_4G", "m")}
    box = containers(project)["influxdb"]
    env = {"INFLUX_TOKEN": project.secrets["INFLUXDB_TOKEN"]}
    listing = 'influx task list --json --host "http://$HOSTNAME:8086"'
    code, out = box.exec_run(["sh", "-c", listing], environment=env)
    assert code == 0 and "polysource_1m_capteurs_" in out.decode(), out


def test_influxdb1_stopped_mid_interval_leaves_no_hole_in_the_means(deploy_project):
    """InfluxDB stops for 25 s (a reboot, an upgrade) while a board publishes every 0.2 s:
    Telegraf keeps the readings and writes them when InfluxDB is back, with their own times;
    the continuous query's RESAMPLE window recomputes the intervals it missed, so every
    10 s interval's mean is the mean of its raw readings."""
    import math

    from deploy_helpers import SEED_READING, publish, wait_subscribed

    from helpers import steadily

    project = deploy_project(influxdb_extra=", retention: 30d, downsample: [{every: 10s, keep: 104w}]")
    wait_subscribed(project, since=deploy(project)[0])
    box = containers(project)["influxdb"]
    with steadily(lambda v: publish(project, {**SEED_READING, "valeur": v}), every=0.2) as sent:
        time.sleep(12)
        box.stop(timeout=10)
        time.sleep(25)
        box.start()
        time.sleep(12)
    wait_for(
        lambda: len(influx(project, 'SELECT "valeur" FROM "autogen"."capteurs"')) >= len(sent), 90, "all raw"
    )

    def holes() -> list[str]:
        raw = influx(
            project,
            'SELECT mean("valeur") FROM "autogen"."capteurs" WHERE time > now() - 1h'
            " GROUP BY time(10s) fill(none)",
        )
        means = {
            r["time"]: r["valeur"]
            for r in influx(project, 'SELECT "valeur" FROM "rp_10s"."capteurs" WHERE time > now() - 1h')
        }
        done = int(time.time()) // 10 * 10 - 10  # intervals the query has had a run to compute
        return [
            f"{r['time']}: raw {r['mean']} tier {means.get(r['time'])}"
            for r in raw
            if r["time"] < done and not math.isclose(r["mean"], means.get(r["time"], math.nan))
        ]

    wait_for(lambda: not holes(), 60, "every interval's mean, the outage's included")


def test_readings_later_than_the_resample_window_are_healed_within_minutes(deploy_project):
    """Hours without InfluxDB, then Telegraf's buffer arriving: readings land with their own
    times, 20 minutes old, beyond the RESAMPLE window (10 min) of the tier's query. The healing
    query (InfluxDB 1) recomputes the past day every minute for a 10 s tier: the interval gets
    the mean of its readings (3: not their median, first, last, min or max)."""
    project = deploy_project(influxdb_extra=", retention: 30d, downsample: [{every: 10s, keep: 104w}]")
    deploy(project)
    names = [q["name"] for q in influx(project, "SHOW CONTINUOUS QUERIES")]
    assert len(names) == 2, names  # the RESAMPLE one and the healing one
    late = (int(time.time()) // 10) * 10 - 1200
    values = [0, 0, 9, 0, 6]  # mean 3
    write_lines(
        project,
        [f"capteurs,idCapteur=Test_4G,unite=m valeur={v} {late + 2 * i}" for i, v in enumerate(values)],
        precision="s",
    )
    query = f'SELECT "valeur" FROM "rp_10s"."capteurs" WHERE time = {late}s'
    wait_for(lambda: influx(project, query), 100, "the healing query's mean of readings 20 minutes late")
    assert [r["valeur"] for r in influx(project, query)] == [3.0]


def test_influxdb2_readings_later_than_the_task_window_are_healed_within_minutes(deploy_project):
    """The same on InfluxDB 2: a second task per tier recomputes the past day, up to the
    interval in progress, every minute for a 10 s tier."""
    project = deploy_project(
        influx_version=2, influxdb_extra=", retention: 30d, downsample: [{every: 10s, keep: 104w}]"
    )
    deploy(project)
    late = (int(time.time()) // 10) * 10 - 1200
    values = [0, 0, 9, 0, 6]
    write_lines(
        project,
        [f"capteurs,idCapteur=Test_4G,unite=m valeur={v} {late + 2 * i}" for i, v in enumerate(values)],
        "s",
    )
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(late + 10))  # Flux stamps a window's end

    def healed() -> list[float]:
        rows = flux(
            project,
            'from(bucket: "polysource_10s") |> range(start: -2h) |> filter(fn: (r) => r._field == "valeur")',
        )
        return [float(r["_value"]) for r in rows if r["_time"] == stamp]

    wait_for(healed, 100, "the healing task's mean of readings 20 minutes late")
    assert healed() == [3.0]
