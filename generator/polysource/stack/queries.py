"""InfluxDB's two dialects: every query polysource asks, in InfluxQL (v1) or Flux (v2), with
every name quoted, and the few facts that differ with the query language.

Dashboards, alert rules, `verify` and `status` all ask InfluxDB about one series; the queries
are built here, once, and names are quoted as each language wants, so an odd name can never
end a string or start a second statement. The dialect is chosen once, when the stack is built
(`stack.dialect`); nothing downstream asks which version it has to build a query.
"""

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Any, Protocol

from polysource.secrets import Secret
from polysource.stack import paths
from polysource.stack.host import WRITES, HostMetric
from polysource.stack.model import InfluxFacts, Series, StreamFacts, Tier, TierSource


@lru_cache(maxsize=4096)  # a stream's measurement, field and tag: in every query of its sensors
def influxql_identifier(name: str) -> str:
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def influxql_string(value: str) -> str:
    """An InfluxQL string literal: InfluxDB 1.x escapes a quote as \\' and a backslash as \\\\."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n") + "'"


def flux_string(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("${", "\\${") + '"'


INFLUX2_CLI = 'influx {args} --host "http://$HOSTNAME:{port}"'  # the image's CLI, on the container's address


@dataclass(frozen=True)
class Command:
    """A shell script run inside the InfluxDB container: names come from the exec's environment
    (POLYSOURCE_DIR, POLYSOURCE_DB), never from the inventory on a command line."""

    script: str
    says: str  # what it does, as deploy and backup print it
    secrets: dict[str, Secret] = field(default_factory=dict)  # environment variable -> secret


RESOLUTION = "resolution"  # the dashboards' variable choosing raw readings or a tier of means
HEARTBEAT = WRITES.measurement  # Telegraf's own write statistics, written every 10 s (telegraf.conf)


class InfluxDialect(Protocol):
    """What differs between InfluxDB 1 and 2 for everything that asks it something."""

    @property
    def influx(self) -> InfluxFacts: ...

    @property
    def grafana_interval(self) -> str:
        """A panel's bucket, as Grafana fills it in."""
        ...

    @property
    def data_path(self) -> str:
        """The data volume, inside the container."""
        ...

    @property
    def health(self) -> tuple[str, int]:
        """The unauthenticated health endpoint and the status it answers when all is well."""
        ...

    @property
    def raw_query(self) -> bool:
        """Grafana's InfluxQL targets say their text is the query (rawQuery); Flux's always are."""
        ...

    def grafana_source(self) -> dict[str, Any]:
        """Grafana's datasource fields for this language: account or token, database or bucket
        (secrets as ${VAR}: Grafana expands them from its own environment)."""
        ...

    def backup(self) -> Command:
        """A portable backup of the database (bucket) into $POLYSOURCE_DIR."""
        ...

    def panel(self, series: Series) -> str:
        """The dashboard panel's query, with Grafana's time range and interval macros; with tiers
        of means, from the retention policy or bucket the dashboard's resolution variable picks."""
        ...

    def stream_panel(self, stream: StreamFacts, variable: str) -> str:
        """The overview's repeated panel: one stream, the sensor its repeat sets in `variable`.
        Grafana escapes a multi-value variable for a regex (InfluxQL) or writes it as a JSON list
        (Flux, `:json`), so an odd sensor id cannot break out of the query."""
        ...

    def sensor_variable(self, stream: StreamFacts) -> str:
        """The overview's sensor choice: the stream's sensor ids as InfluxDB knows them."""
        ...

    def point(self, series: Series, value: float, within: str = "1h") -> str:
        """Finds one exact reading (verify's probe)."""
        ...

    def last(self, series: Series, within: str = "30d") -> str:
        """The sensor's last reading (status)."""
        ...

    def alert(self, series: Series, function: str) -> str:
        """An alert rule's query: the sensor's last reading, or how many, in the rule's time range
        (none at all: Grafana's no-data state). function: last or count."""
        ...

    def last_by_sensor(self, stream: StreamFacts, within: str = "30d") -> str:
        """Every sensor's last reading on one stream, in one query (status, at any fleet size)."""
        ...

    def heartbeat(self, within: str = "1h") -> str:
        """When Telegraf's own statistics last reached InfluxDB: its last successful write."""
        ...

    def host(self, metric: HostMetric, function: str, every: str | None, fill: str = "null") -> str:
        """A host metric (stack/host.py) over Grafana's time range: `function` of each `every`
        window (Grafana's macro for panels), or of the whole range (None, for an alert rule); a
        running total as its increase per window instead, when windowed. fill: InfluxQL's, for
        empty windows (a panel's gap is null; an alert's reduction wants none)."""
        ...

    def reading(self, row: dict[str, Any]) -> tuple[float, float]:
        """(unix time, value) of a row a `last` query answered."""
        ...


@dataclass(frozen=True)
class InfluxQL:
    """InfluxDB 1.x: InfluxQL, retention policies for tiers."""

    influx: InfluxFacts
    grafana_interval: str = "$__interval"
    data_path: str = paths.INFLUXDB1_DATA
    health: tuple[str, int] = ("/ping", 204)
    raw_query: bool = True

    def backup(self) -> Command:
        # The backup service listens on 127.0.0.1:8088 inside the container, without accounts.
        return Command(
            'rm -rf "$POLYSOURCE_DIR" && '
            'influxd backup -portable -database "$POLYSOURCE_DB" "$POLYSOURCE_DIR"',
            f"influxd backup -portable -database {self.influx.database}",
        )

    def grafana_source(self) -> dict[str, Any]:
        influx = self.influx
        return {
            "user": influx.reader.user,
            "jsonData": {"dbName": influx.database, "httpMode": "POST", "timeInterval": "10s"},
            "secureJsonData": {"password": influx.reader.password.reference},
        }

    @staticmethod
    def _from(series: Series, policy: str | None = None) -> str:
        prefix = f"{policy}." if policy else ""
        return f"FROM {prefix}{influxql_identifier(series.measurement)}"

    @staticmethod
    def _where(series: Series) -> str:
        return f"{influxql_identifier(series.tag)} = {influxql_string(series.sensor)}"

    def panel(self, series: Series) -> str:
        policy = f'"${RESOLUTION}"' if self.influx.tiers else None
        return (
            f"SELECT mean({influxql_identifier(series.field)}) {self._from(series, policy)} "
            f"WHERE ({self._where(series)}) AND $timeFilter GROUP BY time($__interval) fill(null)"
        )

    def stream_panel(self, stream: StreamFacts, variable: str) -> str:
        policy = f'"${RESOLUTION}".' if self.influx.tiers else ""
        source = f"{policy}{influxql_identifier(stream.measurement)}"
        return (
            f"SELECT mean({influxql_identifier(stream.field)}) FROM {source} "
            f"WHERE {influxql_identifier(stream.sensor_tag)} =~ /^${variable}$/ AND $timeFilter "
            "GROUP BY time($__interval) fill(null)"
        )

    def sensor_variable(self, stream: StreamFacts) -> str:
        return (
            f"SHOW TAG VALUES FROM {influxql_identifier(stream.measurement)} "
            f"WITH KEY = {influxql_identifier(stream.sensor_tag)}"
        )

    def point(self, series: Series, value: float, within: str = "1h") -> str:
        return (
            f"SELECT {influxql_identifier(series.field)} {self._from(series)} "
            f"WHERE {self._where(series)} AND {influxql_identifier(series.field)} = {value!r} "
            f"AND time > now() - {within}"
        )

    def last(self, series: Series, within: str = "30d") -> str:
        return (
            f"SELECT last({influxql_identifier(series.field)}) {self._from(series)} "
            f"WHERE {self._where(series)} AND time > now() - {within}"
        )

    def alert(self, series: Series, function: str) -> str:
        assert function in ("last", "count")
        return (
            f"SELECT {function}({influxql_identifier(series.field)}) {self._from(series)} "
            f"WHERE {self._where(series)} AND $timeFilter"
        )

    def last_by_sensor(self, stream: StreamFacts, within: str = "30d") -> str:
        source = influxql_identifier(stream.measurement)
        return (
            f"SELECT last({influxql_identifier(stream.field)}) FROM {source} "
            f"WHERE time > now() - {within} GROUP BY {influxql_identifier(stream.sensor_tag)}"
        )

    def heartbeat(self, within: str = "1h") -> str:
        source = f"FROM {influxql_identifier(HEARTBEAT)} WHERE time > now() - {within}"
        return f"SELECT last({influxql_identifier('metrics_written')}) {source}"

    def host(self, metric: HostMetric, function: str, every: str | None, fill: str = "null") -> str:
        field = influxql_identifier(metric.field)
        increase = metric.counter and every
        selected = f"non_negative_difference(max({field}))" if increase else f"{function}({field})"
        grouping = [f"time({every})"] if every else []
        grouping += [influxql_identifier(metric.per_tag)] if metric.per_tag else []
        group = f" GROUP BY {', '.join(grouping)}" + (f" fill({fill})" if every else "") if grouping else ""
        return f"SELECT {selected} FROM {influxql_identifier(metric.measurement)} WHERE $timeFilter{group}"

    def reading(self, row: dict[str, Any]) -> tuple[float, float]:
        return float(row["time"]), float(row["last"])


@dataclass(frozen=True)
class Flux:
    """InfluxDB 2.x: Flux, buckets for tiers."""

    influx: InfluxFacts
    grafana_interval: str = "v.windowPeriod"
    data_path: str = paths.INFLUXDB2_DATA
    health: tuple[str, int] = ("/health", 200)
    raw_query: bool = False

    def backup(self) -> Command:
        backup = INFLUX2_CLI.format(args='backup "$POLYSOURCE_DIR"', port=paths.INFLUX_PORT)
        return Command(
            f'rm -rf "$POLYSOURCE_DIR" && {backup}',
            "influx backup (every bucket, with the metadata)",
            {"INFLUX_TOKEN": self.influx.writer.password},
        )

    def grafana_source(self) -> dict[str, Any]:
        influx = self.influx
        return {
            "jsonData": {
                "version": "Flux",
                "organization": influx.organization,
                "defaultBucket": influx.database,
                "timeInterval": "10s",
            },
            "secureJsonData": {"token": influx.reader.password.reference},
        }

    def _source(self, series: Series, start: str, stop: str | None = None, bucket: str | None = None) -> str:
        window = f"start: {start}" + (f", stop: {stop}" if stop else "")
        return (
            f"from(bucket: {bucket or flux_string(self.influx.database)})\n"
            f"  |> range({window})\n"
            f"  |> filter(fn: (r) => r._measurement == {flux_string(series.measurement)}"
            f" and r._field == {flux_string(series.field)}"
            f" and r[{flux_string(series.tag)}] == {flux_string(series.sensor)})"
        )

    def _stream(self, stream: StreamFacts, bucket: str, start: str) -> str:
        return (
            f"from(bucket: {bucket})\n"
            f"  |> range({start})\n"
            f"  |> filter(fn: (r) => r._measurement == {flux_string(stream.measurement)}"
            f" and r._field == {flux_string(stream.field)})\n"
        )

    def panel(self, series: Series) -> str:
        bucket = f'"${{{RESOLUTION}}}"' if self.influx.tiers else None
        return (
            self._source(series, "v.timeRangeStart", "v.timeRangeStop", bucket)
            + "\n  |> aggregateWindow(every: v.windowPeriod, fn: mean, createEmpty: false)"
        )

    def stream_panel(self, stream: StreamFacts, variable: str) -> str:
        bucket = f'"${{{RESOLUTION}}}"' if self.influx.tiers else flux_string(self.influx.database)
        return (
            self._stream(stream, bucket, "start: v.timeRangeStart, stop: v.timeRangeStop")
            + f"  |> filter(fn: (r) => contains(value: r[{flux_string(stream.sensor_tag)}],"
            f" set: ${{{variable}:json}}))\n"
            "  |> aggregateWindow(every: v.windowPeriod, fn: mean, createEmpty: false)"
        )

    def sensor_variable(self, stream: StreamFacts) -> str:
        return (
            'import "influxdata/influxdb/schema"\n\n'
            f"schema.tagValues(bucket: {flux_string(self.influx.database)}, "
            f"tag: {flux_string(stream.sensor_tag)},"
            f" predicate: (r) => r._measurement == {flux_string(stream.measurement)}, start: -30d)"
        )

    def point(self, series: Series, value: float, within: str = "1h") -> str:
        return self._source(series, f"-{within}") + f"\n  |> filter(fn: (r) => r._value == {value!r})"

    def last(self, series: Series, within: str = "30d") -> str:
        return self._source(series, f"-{within}") + "\n  |> last()"

    def alert(self, series: Series, function: str) -> str:
        assert function in ("last", "count")
        return self._source(series, "v.timeRangeStart", "v.timeRangeStop") + f"\n  |> {function}()"

    def last_by_sensor(self, stream: StreamFacts, within: str = "30d") -> str:
        return (
            self._stream(stream, flux_string(self.influx.database), f"start: -{within}")
            + f"  |> group(columns: [{flux_string(stream.sensor_tag)}])\n"
            "  |> last()"
        )

    def heartbeat(self, within: str = "1h") -> str:
        measurement = flux_string(HEARTBEAT)
        return (
            f"from(bucket: {flux_string(self.influx.database)})\n  |> range(start: -{within})\n"
            f'  |> filter(fn: (r) => r._measurement == {measurement} and r._field == "metrics_written")\n'
            "  |> last()"
        )

    def host(self, metric: HostMetric, function: str, every: str | None, fill: str = "null") -> str:
        source = (
            f"from(bucket: {flux_string(self.influx.database)})\n"
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

    def reading(self, row: dict[str, Any]) -> tuple[float, float]:
        when = datetime.fromisoformat(row["_time"].replace("Z", "+00:00")).timestamp()
        return when, float(row["_value"])


def dialect_for(influx: InfluxFacts) -> InfluxDialect:
    """The one place the InfluxDB version picks a query language (stack/build.py calls it)."""
    return InfluxQL(influx) if influx.version == 1 else Flux(influx)


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
