"""Queries for a sensor's series, in InfluxQL (v1) or Flux (v2), with every name quoted.

Dashboards, alert rules, `verify` and `status` all ask InfluxDB about one series; the queries
are built here, once, and names are quoted as each language wants, so an odd name can never
end a string or start a second statement.
"""

import hashlib

from polysource.stack.host import WRITES, HostMetric
from polysource.stack.model import InfluxFacts, Series, StreamFacts, Tier, TierSource


def influxql_identifier(name: str) -> str:
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def influxql_string(value: str) -> str:
    """An InfluxQL string literal: InfluxDB 1.x escapes a quote as \\' and a backslash as \\\\."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n") + "'"


def flux_string(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("${", "\\${") + '"'


RESOLUTION = "resolution"  # the dashboards' variable choosing raw readings or a tier of means
GRAFANA_INTERVAL = {1: "$__interval", 2: "v.windowPeriod"}  # a panel's bucket, as Grafana fills it in


def _flux_source(
    influx: InfluxFacts, series: Series, start: str, stop: str | None = None, bucket: str | None = None
) -> str:
    window = f"start: {start}" + (f", stop: {stop}" if stop else "")
    return (
        f"from(bucket: {bucket or flux_string(influx.database)})\n"
        f"  |> range({window})\n"
        f"  |> filter(fn: (r) => r._measurement == {flux_string(series.measurement)}"
        f" and r._field == {flux_string(series.field)}"
        f" and r[{flux_string(series.tag)}] == {flux_string(series.sensor)})"
    )


def _from(series: Series, policy: str | None = None) -> str:
    prefix = f"{policy}." if policy else ""
    return f"FROM {prefix}{influxql_identifier(series.measurement)}"


def _influxql_where(series: Series) -> str:
    return f"{influxql_identifier(series.tag)} = {influxql_string(series.sensor)}"


def panel_query(influx: InfluxFacts, series: Series) -> str:
    """The dashboard panel's query, with Grafana's time range and interval macros; with tiers of
    means, from the retention policy or bucket the dashboard's resolution variable picks."""
    if influx.version == 1:
        policy = f'"${RESOLUTION}"' if influx.tiers else None
        return (
            f"SELECT mean({influxql_identifier(series.field)}) {_from(series, policy)} "
            f"WHERE ({_influxql_where(series)}) AND $timeFilter GROUP BY time($__interval) fill(null)"
        )
    bucket = f'"${{{RESOLUTION}}}"' if influx.tiers else None
    return (
        _flux_source(influx, series, "v.timeRangeStart", "v.timeRangeStop", bucket)
        + "\n  |> aggregateWindow(every: v.windowPeriod, fn: mean, createEmpty: false)"
    )


def stream_panel_query(influx: InfluxFacts, stream: StreamFacts, variable: str) -> str:
    """The overview's repeated panel: one stream, the sensor its repeat sets in `variable`.

    Grafana escapes a multi-value variable for a regex (InfluxQL) or writes it as a JSON list
    (Flux, `:json`), so an odd sensor id cannot break out of the query."""
    if influx.version == 1:
        policy = f'"${RESOLUTION}".' if influx.tiers else ""
        source = f"{policy}{influxql_identifier(stream.measurement)}"
        return (
            f"SELECT mean({influxql_identifier(stream.field)}) FROM {source} "
            f"WHERE {influxql_identifier(stream.sensor_tag)} =~ /^${variable}$/ AND $timeFilter "
            "GROUP BY time($__interval) fill(null)"
        )
    bucket = f'"${{{RESOLUTION}}}"' if influx.tiers else flux_string(influx.database)
    return (
        f"from(bucket: {bucket})\n"
        "  |> range(start: v.timeRangeStart, stop: v.timeRangeStop)\n"
        f"  |> filter(fn: (r) => r._measurement == {flux_string(stream.measurement)}"
        f" and r._field == {flux_string(stream.field)})\n"
        f"  |> filter(fn: (r) => contains(value: r[{flux_string(stream.sensor_tag)}],"
        f" set: ${{{variable}:json}}))\n"
        "  |> aggregateWindow(every: v.windowPeriod, fn: mean, createEmpty: false)"
    )


def sensor_variable_query(influx: InfluxFacts, stream: StreamFacts) -> str:
    """The overview's sensor choice: the stream's sensor ids as InfluxDB knows them."""
    if influx.version == 1:
        return (
            f"SHOW TAG VALUES FROM {influxql_identifier(stream.measurement)} "
            f"WITH KEY = {influxql_identifier(stream.sensor_tag)}"
        )
    return (
        'import "influxdata/influxdb/schema"\n\n'
        f"schema.tagValues(bucket: {flux_string(influx.database)}, tag: {flux_string(stream.sensor_tag)},"
        f" predicate: (r) => r._measurement == {flux_string(stream.measurement)}, start: -30d)"
    )


def point_query(influx: InfluxFacts, series: Series, value: float, within: str = "1h") -> str:
    """Finds one exact reading (verify's probe)."""
    if influx.version == 1:
        return (
            f"SELECT {influxql_identifier(series.field)} {_from(series)} "
            f"WHERE {_influxql_where(series)} AND {influxql_identifier(series.field)} = {value!r} "
            f"AND time > now() - {within}"
        )
    return _flux_source(influx, series, f"-{within}") + f"\n  |> filter(fn: (r) => r._value == {value!r})"


def last_query(influx: InfluxFacts, series: Series, within: str = "30d") -> str:
    """The sensor's last reading (status)."""
    if influx.version == 1:
        return (
            f"SELECT last({influxql_identifier(series.field)}) {_from(series)} "
            f"WHERE {_influxql_where(series)} AND time > now() - {within}"
        )
    return _flux_source(influx, series, f"-{within}") + "\n  |> last()"


def alert_query(influx: InfluxFacts, series: Series, function: str) -> str:
    """An alert rule's query: the sensor's last reading, or how many, in the rule's time range
    (none at all: Grafana's no-data state). function: last or count."""
    assert function in ("last", "count")
    if influx.version == 1:
        return (
            f"SELECT {function}({influxql_identifier(series.field)}) {_from(series)} "
            f"WHERE {_influxql_where(series)} AND $timeFilter"
        )
    return _flux_source(influx, series, "v.timeRangeStart", "v.timeRangeStop") + f"\n  |> {function}()"


def last_by_sensor_query(influx: InfluxFacts, stream: StreamFacts, within: str = "30d") -> str:
    """Every sensor's last reading on one stream, in one query (status, at any fleet size)."""
    tag = stream.sensor_tag
    if influx.version == 1:
        source = influxql_identifier(stream.measurement)
        return (
            f"SELECT last({influxql_identifier(stream.field)}) FROM {source} "
            f"WHERE time > now() - {within} GROUP BY {influxql_identifier(tag)}"
        )
    return (
        f"from(bucket: {flux_string(influx.database)})\n"
        f"  |> range(start: -{within})\n"
        f"  |> filter(fn: (r) => r._measurement == {flux_string(stream.measurement)}"
        f" and r._field == {flux_string(stream.field)})\n"
        f"  |> group(columns: [{flux_string(tag)}])\n"
        "  |> last()"
    )


HEARTBEAT = WRITES.measurement  # Telegraf's own write statistics, written every 10 s (telegraf.conf)


def heartbeat_query(influx: InfluxFacts, within: str = "1h") -> str:
    """When Telegraf's own statistics last reached InfluxDB: its last successful write."""
    if influx.version == 1:
        source = f"FROM {influxql_identifier(HEARTBEAT)} WHERE time > now() - {within}"
        return f"SELECT last({influxql_identifier('metrics_written')}) {source}"
    measurement = flux_string(HEARTBEAT)
    return (
        f"from(bucket: {flux_string(influx.database)})\n  |> range(start: -{within})\n"
        f'  |> filter(fn: (r) => r._measurement == {measurement} and r._field == "metrics_written")\n'
        "  |> last()"
    )


def host_query(
    influx: InfluxFacts, metric: HostMetric, function: str, every: str | None, fill: str = "null"
) -> str:
    """A host metric (stack/host.py) over Grafana's time range: `function` of each `every`
    window (Grafana's macro for panels), or of the whole range (None, for an alert rule); a
    running total as its increase per window instead, when windowed. fill: InfluxQL's, for
    empty windows (a panel's gap is null; an alert's reduction wants none)."""
    if influx.version == 1:
        field = influxql_identifier(metric.field)
        increase = metric.counter and every
        selected = f"non_negative_difference(max({field}))" if increase else f"{function}({field})"
        grouping = [f"time({every})"] if every else []
        grouping += [influxql_identifier(metric.per_tag)] if metric.per_tag else []
        group = f" GROUP BY {', '.join(grouping)}" + (f" fill({fill})" if every else "") if grouping else ""
        return f"SELECT {selected} FROM {influxql_identifier(metric.measurement)} WHERE $timeFilter{group}"
    source = (
        f"from(bucket: {flux_string(influx.database)})\n"
        "  |> range(start: v.timeRangeStart, stop: v.timeRangeStop)\n"
        f"  |> filter(fn: (r) => r._measurement == {flux_string(metric.measurement)}"
        f" and r._field == {flux_string(metric.field)})"
    )
    if metric.counter and every:
        return (
            source + f"\n  |> aggregateWindow(every: {every}, fn: max, createEmpty: false)"
            "\n  |> difference(nonNegative: true)"
        )
    if every:
        return source + f"\n  |> aggregateWindow(every: {every}, fn: {function}, createEmpty: false)"
    return source + f"\n  |> {function}()"


def _sensor_regex(sensors: tuple[str, ...]) -> str:
    """An InfluxQL regex matching exactly these sensor ids (names are [A-Za-z0-9_.-]: escape dots)."""
    return "/^(" + "|".join(s.replace(".", "\\.") for s in sensors) + ")$/"


def downsample_select(influx: InfluxFacts, tier: Tier, source: TierSource, since: str | None = None) -> str:
    """The means a tier keeps, as InfluxQL SELECT ... INTO (a continuous query's body, or a backfill)."""
    db = influxql_identifier(influx.database)
    field = influxql_identifier(source.field)
    measurement = influxql_identifier(source.measurement)
    into = f"{db}.{influxql_identifier(tier.name)}.{measurement}"
    where = []
    if source.sensors:
        where.append(f"{influxql_identifier(source.tag)} =~ {_sensor_regex(source.sensors)}")
    if since:
        where.append(f"time >= now() - {since}")
    clause = f" WHERE {' AND '.join(where)}" if where else ""
    source_rp = f"{db}.{influxql_identifier(influx.raw)}.{measurement}"
    grouping = f"GROUP BY time({tier.every}), * fill(none)"
    return f"SELECT mean({field}) AS {field} INTO {into} FROM {source_rp}{clause} {grouping}"


def downsample_flux(
    influx: InfluxFacts, tier: Tier, source: TierSource, start: str, backfill: bool = False
) -> str:
    """The same means in Flux, for an InfluxDB 2 task (start: its resample window) or a backfill, which
    stops at the start of the interval in progress: its mean is the task's to write, complete."""
    conditions = [
        f"r._measurement == {flux_string(source.measurement)}",
        f"r._field == {flux_string(source.field)}",
    ]
    if source.sensors:
        either = " or ".join(f"r[{flux_string(source.tag)}] == {flux_string(s)}" for s in source.sensors)
        conditions.append(f"({either})")
    stop = f", stop: date.truncate(t: now(), unit: {tier.every})" if backfill else ""
    return (
        ('import "date"\n\n' if backfill else "") + f"from(bucket: {flux_string(influx.database)})\n"
        f"  |> range(start: {start}{stop})\n"
        f"  |> filter(fn: (r) => {' and '.join(conditions)})\n"
        f"  |> aggregateWindow(every: {tier.every}, fn: mean, createEmpty: false)\n"
        f"  |> to(bucket: {flux_string(tier.name)}, org: {flux_string(influx.organization)})"
    )


def downsample_name(tier: Tier, source: TierSource, body: str) -> str:
    """A continuous query's (or task's) name that changes with its definition."""
    digest = hashlib.sha256(body.encode()).hexdigest()[:8]
    return f"polysource_{tier.every}_{source.measurement}_{digest}"
