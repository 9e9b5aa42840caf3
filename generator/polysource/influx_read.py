"""Reading back from the stack's InfluxDB, as Grafana does: the read account (v1) or token (v2)."""

import base64
import json
import urllib.error
import urllib.parse
import urllib.request

from polysource.errors import PolysourceError
from polysource.inventory.model import Inventory
from polysource.stack import Secret
from polysource.targets import target_host


def influx_url(inventory: Inventory) -> str:
    return f"http://{target_host(inventory)}:{inventory.storage.influxdb.port}"


def read_secrets(inventory: Inventory) -> list[str]:
    db = inventory.storage.influxdb
    return [Secret.of(db.read_password if db.version == 1 else db.token).var]


def point_stored(inventory: Inventory, secrets: dict[str, str], sensor_id: str, value: float) -> bool:
    """Whether the reading (sensor, exact value) is queryable in InfluxDB."""
    db = inventory.storage.influxdb
    sensor = inventory.sensors[sensor_id]
    stream = inventory.streams[sensor.stream]
    measurement, field = stream.measurement or sensor.stream, stream.format.value
    tag = stream.format.sensor or "sensor"
    if db.version == 1:
        q = (
            f'SELECT "{field}" FROM "{measurement}" WHERE "{tag}" = \'{sensor_id}\' '
            f'AND "{field}" = {value!r} AND time > now() - 1h'
        )
        params = urllib.parse.urlencode({"q": q, "db": db.database})
        request = urllib.request.Request(f"{influx_url(inventory)}/query?{params}")
        user = f"{db.read_user}:{secrets[Secret.of(db.read_password).var]}"
        request.add_header("Authorization", "Basic " + base64.b64encode(user.encode()).decode())
        result = json.loads(_fetch(request))
        return any(s.get("series") for s in result.get("results", []))
    flux = (
        f'from(bucket: "{db.database}") |> range(start: -1h) '
        f'|> filter(fn: (r) => r._measurement == "{measurement}" and r._field == "{field}" '
        f'and r["{tag}"] == "{sensor_id}" and r._value == {value!r})'
    )
    request = urllib.request.Request(
        f"{influx_url(inventory)}/api/v2/query?org={urllib.parse.quote(db.organization)}",
        data=json.dumps({"query": flux}).encode(),
        headers={
            "Authorization": f"Token {secrets[Secret.of(db.token).var]}",
            "Content-Type": "application/json",
            "Accept": "application/csv",
        },
    )
    return any(line.startswith(",_result,") for line in _fetch(request).splitlines())


def _fetch(request: urllib.request.Request) -> str:
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.read().decode()
    except urllib.error.HTTPError as error:
        raise PolysourceError(
            f"InfluxDB {request.full_url.split('?')[0]}: HTTP {error.code}: {error.read()[:200]!r}"
        ) from None
    except OSError as error:
        raise PolysourceError(f"InfluxDB at {request.full_url.split('?')[0]} unreachable: {error}") from None
