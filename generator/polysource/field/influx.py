"""Reading back from the stack's InfluxDB over HTTP, as Grafana does, with Grafana's credential.

urllib's errors are translated here into InfluxError, once.
"""

import base64
import csv
import io
import json
import urllib.error
import urllib.parse
import urllib.request
from datetime import datetime
from typing import Any

from polysource.errors import InfluxError
from polysource.secrets import Secret, SecretValues
from polysource.stack.model import InfluxFacts, Series, StreamFacts
from polysource.stack.queries import heartbeat_query, last_by_sensor_query, last_query, point_query

TIMEOUT = 5.0


def read_secrets(influx: InfluxFacts) -> list[Secret]:
    return influx.reader.secrets


def query(influx: InfluxFacts, values: SecretValues, text: str) -> list[dict[str, Any]]:
    """Rows of a query (InfluxQL for v1, Flux for v2) as dicts; InfluxError on any failure."""
    if influx.version == 1:
        login = (str(values.text(influx.reader.user)), values[influx.reader.password])
        return influxql(influx.url_outside, influx.database, login, text)
    return flux(influx.url_outside, influx.organization, values[influx.reader.password], text)


def influxql(
    url: str, database: str | None, login: tuple[str, str] | None, text: str
) -> list[dict[str, Any]]:
    """InfluxDB 1.x /query (POST, basic auth), times in seconds."""
    params = urllib.parse.urlencode({"q": text, "epoch": "s", **({"db": database} if database else {})})
    request = urllib.request.Request(f"{url}/query", data=params.encode())
    if login:
        request.add_header("Authorization", "Basic " + base64.b64encode(":".join(login).encode()).decode())
    request.add_header("Content-Type", "application/x-www-form-urlencoded")
    return influxql_rows(json.loads(_fetch(request)))


def flux(url: str, organization: str, token: str, text: str) -> list[dict[str, Any]]:
    """InfluxDB 2.x /api/v2/query, answered as annotated CSV."""
    request = urllib.request.Request(
        f"{url}/api/v2/query?org={urllib.parse.quote(organization)}",
        data=json.dumps({"query": text}).encode(),
        headers={
            "Authorization": f"Token {token}",
            "Content-Type": "application/json",
            "Accept": "application/csv",
        },
    )
    return flux_rows(_fetch(request))


def influxql_rows(result: dict[str, Any]) -> list[dict[str, Any]]:
    """Every row of a /query answer; an error inside the answer is an error, not zero rows."""
    found = []
    for statement in result.get("results", []):
        if "error" in statement:
            raise InfluxError(f"InfluxDB refused the query: {statement['error']}")
        for series in statement.get("series", []):
            tags = series.get("tags") or {}
            rows = series.get(
                "values", []
            )  # a series with no rows (SHOW CONTINUOUS QUERIES of a db with none)
            found += [{**tags, **dict(zip(series["columns"], row, strict=True))} for row in rows]
    if "error" in result:
        raise InfluxError(f"InfluxDB refused the query: {result['error']}")
    return found


def flux_rows(text: str) -> list[dict[str, Any]]:
    """Rows of Flux's annotated CSV (header lines start a table; blank lines separate them)."""
    rows: list[dict[str, Any]] = []
    header: list[str] | None = None
    for record in csv.reader(io.StringIO(text)):
        if not record or record[0].startswith("#"):
            header = None if not record else header
            continue
        if header is None:
            header = record
            continue
        rows.append(dict(zip(header, record, strict=False)))
    return rows


def point_stored(influx: InfluxFacts, values: SecretValues, series: Series, value: float) -> bool:
    """Whether the exact reading (sensor, value) is queryable in InfluxDB."""
    return bool(query(influx, values, point_query(influx, series, value)))


def _last(influx: InfluxFacts, rows: list[dict[str, Any]]) -> tuple[float, float] | None:
    """(unix time, value) of a `last` query's row, in either language."""
    if not rows:
        return None
    row = rows[0]
    if influx.version == 1:
        return float(row["time"]), float(row["last"])
    when = datetime.fromisoformat(row["_time"].replace("Z", "+00:00")).timestamp()
    return when, float(row["_value"])


def last_reading(influx: InfluxFacts, values: SecretValues, series: Series) -> tuple[float, float] | None:
    """(unix time, value) of the sensor's last reading within 30 days, or None."""
    return _last(influx, query(influx, values, last_query(influx, series)))


def last_by_sensor(
    influx: InfluxFacts, values: SecretValues, stream: StreamFacts
) -> dict[str, tuple[float, float]]:
    """sensor id -> (unix time, value) of its last reading on the stream within 30 days."""
    found = {}
    for row in query(influx, values, last_by_sensor_query(influx, stream)):
        sensor = row.get(stream.sensor_tag)
        reading = _last(influx, [row])
        if sensor and reading:
            found[str(sensor)] = reading
    return found


def last_write(influx: InfluxFacts, values: SecretValues) -> float | None:
    """Unix time of Telegraf's last write that reached InfluxDB (its heartbeat), or None."""
    found = _last(influx, query(influx, values, heartbeat_query(influx)))
    return found[0] if found else None


def _fetch(request: urllib.request.Request) -> str:
    where = request.full_url.split("?")[0]
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
            return str(response.read().decode())
    except urllib.error.HTTPError as error:
        detail = error.read()[:200].decode(errors="replace")
        raise InfluxError(f"InfluxDB {where}: HTTP {error.code}: {detail.strip()}") from None
    except (OSError, ValueError) as error:
        raise InfluxError(f"InfluxDB at {where} unreachable: {error}") from None
