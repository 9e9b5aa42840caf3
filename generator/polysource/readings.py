"""A reading as a sensor would send it: the stream's topic and JSON payload."""

import json
from dataclasses import dataclass

from polysource.errors import PolysourceError
from polysource.inventory.model import Inventory, Sensor
from polysource.topics import PLACEHOLDER


@dataclass(frozen=True)
class Reading:
    sensor: str
    broker: str
    topic: str
    payload: str
    value: float
    qos: int


def find_sensor(inventory: Inventory, sensor_id: str) -> Sensor:
    if sensor_id not in inventory.sensors:
        known = ", ".join(sorted(inventory.sensors))
        raise PolysourceError(f"unknown sensor {sensor_id!r} (known: {known})")
    return inventory.sensors[sensor_id]


def reading_for(
    inventory: Inventory, sensor_id: str, value: float, tags: dict[str, str] | None = None
) -> Reading:
    """Topic levels other than {sensor} come from tags, e.g. {"site": "serre"}."""
    tags = tags or {}
    sensor = find_sensor(inventory, sensor_id)
    stream = inventory.streams[sensor.stream]
    levels = []
    for level in stream.topic.split("/"):
        match = PLACEHOLDER.match(level)
        if not match:
            levels.append(level)
        elif match.group(1) == "sensor":
            levels.append(sensor_id)
        elif match.group(1) in tags:
            levels.append(tags[match.group(1)])
        else:
            name = match.group(1)
            raise PolysourceError(f"topic {stream.topic} needs {{{name}}}: pass --tag {name}=VALUE")
    fmt = stream.format
    payload: dict[str, object] = {fmt.value: value}
    if fmt.sensor:
        payload[fmt.sensor] = sensor_id
    if fmt.unit:
        payload[fmt.unit] = sensor.unit
    return Reading(
        sensor_id, stream.broker, "/".join(levels), json.dumps(payload, ensure_ascii=False), value, stream.qos
    )
