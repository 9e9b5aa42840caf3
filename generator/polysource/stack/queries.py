"""Queries for a sensor's series, in InfluxQL (v1) or Flux (v2), with every name quoted.

Dashboards, alert rules, `verify` and `status` all ask InfluxDB about one series; the queries
are built here, once, and names are quoted as each language wants, so an odd name can never
end a string or start a second statement.
"""

from polysource.stack.model import InfluxFacts, Series


def influxql_identifier(name: str) -> str:
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def influxql_string(value: str) -> str:
    """An InfluxQL string literal: InfluxDB 1.x escapes a quote as \\' and a backslash as \\\\."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n") + "'"


def flux_string(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("${", "\\${") + '"'


def _flux_source(influx: InfluxFacts, series: Series, start: str, stop: str | None = None) -> str:
    window = f"start: {start}" + (f", stop: {stop}" if stop else "")
    return (
        f"from(bucket: {flux_string(influx.database)})\n"
        f"  |> range({window})\n"
        f"  |> filter(fn: (r) => r._measurement == {flux_string(series.measurement)}"
        f" and r._field == {flux_string(series.field)}"
        f" and r[{flux_string(series.tag)}] == {flux_string(series.sensor)})"
    )


def _from(series: Series) -> str:
    return f"FROM {influxql_identifier(series.measurement)}"


def _influxql_where(series: Series) -> str:
    return f"{influxql_identifier(series.tag)} = {influxql_string(series.sensor)}"


def panel_query(influx: InfluxFacts, series: Series) -> str:
    """The dashboard panel's query, with Grafana's time range and interval macros."""
    if influx.version == 1:
        return (
            f"SELECT mean({influxql_identifier(series.field)}) {_from(series)} "
            f"WHERE ({_influxql_where(series)}) AND $timeFilter GROUP BY time($__interval) fill(null)"
        )
    return (
        _flux_source(influx, series, "v.timeRangeStart", "v.timeRangeStop")
        + "\n  |> aggregateWindow(every: v.windowPeriod, fn: mean, createEmpty: false)"
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


HEARTBEAT = "internal_write"  # Telegraf's own write statistics, written every 10 s (telegraf.conf)


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
