"""A reading as a sensor would send it: the stream's topic and JSON payload."""

import json
import math
import time
from dataclasses import dataclass
from typing import Any

from polysource.errors import PolysourceError
from polysource.stack import Stack
from polysource.stack.model import SensorFacts
from polysource.topics import SENSOR, fill, level_problem, placeholders


@dataclass(frozen=True)
class Reading:
    sensor: str
    broker: str
    topic: str
    payload: str
    value: float
    qos: int


def find_sensor(stack: Stack, sensor_id: str) -> SensorFacts:
    sensors = stack.sensors
    if not sensors:
        raise PolysourceError("the inventory declares no sensors: add one under `sensors:` first")
    if sensor_id not in sensors:
        raise PolysourceError(f"unknown sensor {sensor_id!r} (known: {', '.join(sorted(sensors))})")
    return sensors[sensor_id]


def first_sensor(stack: Stack) -> str:
    if not stack.sensors:
        raise PolysourceError("the inventory declares no sensors: add one under `sensors:` first")
    return next(iter(stack.sensors))


def _nest(payload: dict[str, Any], path: str, value: Any) -> None:
    """Put value at a dotted JSON path, as Telegraf's json_v2 will look for it."""
    *parents, last = path.split(".")
    for key in parents:
        payload = payload.setdefault(key, {})
    payload[last] = value


def reading_for(stack: Stack, sensor_id: str, value: float, tags: dict[str, str] | None = None) -> Reading:
    """Topic levels other than {sensor} come from tags, e.g. {"site": "serre"}."""
    if not math.isfinite(value):
        raise PolysourceError(
            f"a reading must be a finite number, got {value!r} (JSON has no NaN or Infinity)"
        )
    tags = dict(tags or {})
    sensor = find_sensor(stack, sensor_id)
    stream = stack.streams[sensor.stream]
    names = {name for name in placeholders(stream.topic) if name}
    for name, text in tags.items():
        if name not in names - {SENSOR}:
            levels = ", ".join(f"{{{n}}}" for n in sorted(names - {SENSOR})) or "none"
            raise PolysourceError(
                f"--tag {name}: topic {stream.topic} has no {{{name}}} level (its levels: {levels})"
            )
        if problem := level_problem(text):
            raise PolysourceError(f"--tag {name}={text!r}: the value {problem}")
    missing = sorted(names - {SENSOR} - set(tags))
    if missing:
        raise PolysourceError(f"topic {stream.topic} needs {{{missing[0]}}}: pass --tag {missing[0]}=VALUE")
    payload: dict[str, Any] = {}
    _nest(payload, stream.value_path, value)
    if stream.sensor_path:
        _nest(payload, stream.sensor_path, sensor_id)
    if stream.unit_path:
        _nest(payload, stream.unit_path, sensor.unit)
    if stream.time_path:  # as a board sends it: the time it was measured, Unix ms
        _nest(payload, stream.time_path, time.time_ns() // 1_000_000)
    return Reading(
        sensor_id,
        stream.broker,
        fill(stream.topic, {**tags, SENSOR: sensor_id}),
        json.dumps(payload, ensure_ascii=False),
        value,
        stream.qos,
    )
