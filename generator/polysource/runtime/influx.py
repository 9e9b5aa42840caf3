"""Reading back from the stack's InfluxDB inside its container, through the Docker API.

InfluxDB publishes no port by default: status, verify and doctor reach it as deploy and backup
do, by running the image's own `influx` CLI in the container (over ssh:// too), with Grafana's
account (v1) or the token (v2) handed through the exec's environment, never a command line.
What the CLI or Docker refuses is translated here into InfluxError, once.
"""

import csv
import io
import json
from typing import Any, Protocol

from polysource.errors import EngineError, InfluxError
from polysource.runtime.containers import Containers
from polysource.runtime.engine import Box
from polysource.secrets import Secret, SecretValues
from polysource.stack import Stack, paths
from polysource.stack.model import InfluxFacts, Series, StreamFacts
from polysource.stack.queries import InfluxDialect


class Exec(Protocol):
    """What converge needs of a container (runtime.engine.Box, or a fake in the tests)."""

    name: str

    def run(self, command: list[str], environment: dict[str, str] | None = None) -> tuple[int, str]: ...


INFLUX1_CLI = 'printf "%s" "$POLYSOURCE_QUERY" | influx -host "$HOSTNAME" -port {port} -format json'


class Influx1:
    """Talks InfluxQL to the server inside the container, as some account."""

    def __init__(self, box: Exec, login: tuple[str, str] | None, database: str | None = None):
        self.box = box
        self.login = login
        self.database = database  # the statements' default database; times then in Unix seconds

    def run(self, statements: list[str]) -> list[dict[str, Any]]:
        env = {"POLYSOURCE_QUERY": ";\n".join(statements)}
        if self.login:
            env |= {"INFLUX_USERNAME": self.login[0], "INFLUX_PASSWORD": self.login[1]}
        command = INFLUX1_CLI.format(port=paths.INFLUX_PORT)
        if self.database:
            env["POLYSOURCE_DB"] = self.database
            command += ' -database "$POLYSOURCE_DB" -precision s'

        code, output = self.box.run(["sh", "-c", command], env)
        answer = _json_line(output)
        errors = [r["error"] for r in answer.get("results", []) if "error" in r] if answer else []
        if answer and "error" in answer:
            errors.insert(0, answer["error"])
        if code != 0 or errors or answer is None:
            raise Influx1Refused(errors[0] if errors else output.strip()[-300:] or f"influx exited {code}")
        return list(answer.get("results", []))


class Influx1Refused(Exception):
    """The CLI or the server refused (authorization, syntax, ...): the server's words."""


def _json_line(output: str) -> dict[str, Any] | None:
    for line in output.splitlines():
        if line.startswith("{"):
            try:
                found = json.loads(line)
                return found if isinstance(found, dict) else None
            except ValueError:
                continue
    return None


def result_rows(result: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for series in result.get("series", []):
        rows += [dict(zip(series["columns"], values, strict=True)) for values in series.get("values", [])]
    return rows


# The Flux text goes through the environment to printf (a builtin) and on to the CLI's stdin.
INFLUX2_QUERY = (
    'printf "%s\\n" "$POLYSOURCE_FLUX" | influx query --org "$POLYSOURCE_ORG" --raw - '
    '--host "http://$HOSTNAME:{port}"'
)


def read_secrets(influx: InfluxFacts) -> list[Secret]:
    return influx.reader.secrets


class Reader:
    """Queries (InfluxQL for v1, Flux for v2) run by the CLI inside the InfluxDB container."""

    def __init__(self, box: Exec, dialect: InfluxDialect, values: SecretValues):
        self.box, self.dialect, self.values = box, dialect, values
        self.influx = dialect.influx

    def query(self, text: str) -> list[dict[str, Any]]:
        """Rows as dicts; InfluxError on any failure, an error inside the answer included."""
        influx = self.influx
        try:
            if influx.version == 1:
                login = (str(self.values.text(influx.reader.user)), self.values[influx.reader.password])
                results = Influx1(self.box, login, influx.database).run([text])
                return influxql_rows({"results": results})
            env = {
                "POLYSOURCE_FLUX": text,
                "POLYSOURCE_ORG": influx.organization,
                "INFLUX_TOKEN": self.values[influx.reader.password],
            }
            code, output = self.box.run(["sh", "-c", INFLUX2_QUERY.format(port=paths.INFLUX_PORT)], env)
        except Influx1Refused as refusal:
            raise InfluxError(f"InfluxDB refused the query: {refusal}") from None
        except EngineError as error:
            raise InfluxError(f"cannot run a query in the influxdb container: {error}") from None
        if code != 0:
            raise InfluxError(f"InfluxDB refused the query: {output.strip()[-300:] or f'exit {code}'}")
        return flux_rows(output)


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


def point_stored(reader: Reader, series: Series, value: float) -> bool:
    """Whether the exact reading (sensor, value) is queryable in InfluxDB."""
    return bool(reader.query(reader.dialect.point(series, value)))


def _last(dialect: InfluxDialect, rows: list[dict[str, Any]]) -> tuple[float, float] | None:
    """(unix time, value) of a `last` query's first row, or None."""
    return dialect.reading(rows[0]) if rows else None


def last_reading(reader: Reader, series: Series) -> tuple[float, float] | None:
    """(unix time, value) of the sensor's last reading within 30 days, or None."""
    return _last(reader.dialect, reader.query(reader.dialect.last(series)))


def last_by_sensor(reader: Reader, stream: StreamFacts) -> dict[str, tuple[float, float]]:
    """sensor id -> (unix time, value) of its last reading on the stream within 30 days."""
    found = {}
    for row in reader.query(reader.dialect.last_by_sensor(stream)):
        sensor = row.get(stream.sensor_tag)
        reading = _last(reader.dialect, [row])
        if sensor and reading:
            found[str(sensor)] = reading
    return found


def last_write(reader: Reader) -> float | None:
    """Unix time of Telegraf's last write that reached InfluxDB (its heartbeat), or None."""
    found = _last(reader.dialect, reader.query(reader.dialect.heartbeat()))
    return found[0] if found else None


def influx_box(containers: Containers) -> Box:
    """The stack's running InfluxDB container, wherever it runs (InfluxError when it is not)."""
    try:
        return containers.running("influxdb")
    except EngineError as error:
        raise InfluxError(str(error)) from None


def reader_on(containers: Containers, stack: Stack, values: SecretValues) -> Reader:
    """A Reader for the stack's running InfluxDB container."""
    return Reader(influx_box(containers), stack.dialect, values)


def data_disk(reader: Reader) -> tuple[int, int] | None:
    """(total, free) bytes of the filesystem holding InfluxDB's data volume, as `df` in its
    container sees it (on the Pi, the SD card); None when df says nothing usable."""
    path = reader.dialect.data_path
    try:
        code, output = reader.box.run(["df", "-Pk", path])
    except EngineError:
        return None
    lines = output.strip().splitlines()
    fields = lines[-1].split() if code == 0 and len(lines) >= 2 else []
    if len(fields) < 4 or not (fields[1].isdigit() and fields[3].isdigit()):
        return None
    return int(fields[1]) * 1024, int(fields[3]) * 1024
