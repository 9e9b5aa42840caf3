"""Which sensors went quiet: each sensor's last reading against a few of its intervals.

The rule is the alert rule's (render/alerting.py): each sensor's `silent_s` in the stack model,
`alerts.silent_after` of its intervals (3 when the inventory has no `alerts:`).
"""

from dataclasses import dataclass
from typing import TYPE_CHECKING

from polysource.stack import Stack

if TYPE_CHECKING:
    from polysource.runtime.influx import Reader


@dataclass(frozen=True)
class SensorState:
    sensor: str
    last: float | None  # unix time of the last reading within 30 days
    value: float | None
    unit: str
    state: str  # ok, silent, never

    @property
    def flagged(self) -> bool:
        return self.state != "ok"


def classify(stack: Stack, readings: dict[str, tuple[float, float]], now: float) -> list[SensorState]:
    """One state per sensor of the inventory, in its order: pure, for the tests' fake clocks."""
    rows = []
    for sensor in stack.sensors.values():
        found = readings.get(sensor.id)
        if found is None:
            rows.append(SensorState(sensor.id, None, None, sensor.unit, "never"))
            continue
        when, value = found
        quiet = now - when > sensor.silent_s
        rows.append(SensorState(sensor.id, when, value, sensor.unit, "silent" if quiet else "ok"))
    return rows


def sensor_states(reader: "Reader", stack: Stack, now: float) -> list[SensorState]:
    """Every sensor's state, one InfluxDB query per stream."""
    from polysource.runtime.influx import last_by_sensor

    readings: dict[str, tuple[float, float]] = {}
    for name, stream in stack.streams.items():
        found = last_by_sensor(reader, stream)
        # A stream's measurement may hold other streams' sensors: keep this stream's own.
        readings |= {s: r for s, r in found.items() if s in stack.sensors and stack.sensors[s].stream == name}
    return classify(stack, readings, now)
