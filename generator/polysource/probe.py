"""publish, simulate and verify: readings sent as a sensor would, and followed into InfluxDB."""

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from polysource.deploy.secrets import resolve_secrets
from polysource.influx_read import point_stored, read_secrets
from polysource.inventory.model import Inventory, Sensor
from polysource.mqtt import broker_secrets, open_session
from polysource.readings import Reading, find_sensor, reading_for


def publish(inventory: Inventory, inventory_dir: Path, readings: list[Reading]) -> str:
    """Send readings (all to one broker) with the stream's QoS; the endpoint that took them."""
    broker = readings[0].broker
    secrets = resolve_secrets(broker_secrets(inventory.brokers[broker]), inventory_dir)
    session = open_session(inventory, inventory_dir, broker, secrets)
    try:
        for reading in readings:
            session.publish(reading.topic, reading.payload, reading.qos)
    finally:
        session.close()
    return session.endpoint.url


def sensor_range(sensor: Sensor) -> tuple[float, float]:
    """The sensor's min/max, or a 0-100 span where the inventory gives none."""
    lo = sensor.min if sensor.min is not None else 0.0
    return lo, sensor.max if sensor.max is not None else lo + 100.0


def random_walk(lo: float, hi: float) -> Callable[[], float]:
    """Readings that move like a real sensor's, inside its range."""
    state = {"value": random.uniform(lo, hi)}

    def step() -> float:
        state["value"] = min(hi, max(lo, state["value"] + random.gauss(0, (hi - lo) / 50)))
        return round(state["value"], 3)

    return step


def simulate(
    inventory: Inventory,
    inventory_dir: Path,
    sensors: list[str],
    rate: float,
    duration: float,
    tags: dict[str, str],
    progress: Callable[[int], None],
) -> int:
    """Publish rate readings/s in total, round-robin over sensors, for duration seconds."""
    walks = {}
    for sensor_id in sensors:
        walks[sensor_id] = random_walk(*sensor_range(find_sensor(inventory, sensor_id)))
    by_broker: dict[str, list[str]] = {}
    for sensor_id in sensors:
        by_broker.setdefault(inventory.streams[inventory.sensors[sensor_id].stream].broker, []).append(
            sensor_id
        )
    sessions = {}
    for broker in by_broker:
        secrets = resolve_secrets(broker_secrets(inventory.brokers[broker]), inventory_dir)
        sessions[broker] = open_session(inventory, inventory_dir, broker, secrets)
    sent = 0
    start = time.monotonic()
    try:
        while time.monotonic() - start < duration:
            sensor_id = sensors[sent % len(sensors)]
            reading = reading_for(inventory, sensor_id, walks[sensor_id](), tags)
            sessions[reading.broker].publish(reading.topic, reading.payload, reading.qos)
            sent += 1
            progress(sent)
            time.sleep(max(0.0, start + sent / rate - time.monotonic()))
    finally:
        for session in sessions.values():
            session.close()
    return sent


@dataclass
class Hop:
    name: str
    ok: bool
    seconds: float | None
    detail: str


def verify(
    inventory: Inventory, inventory_dir: Path, sensor_id: str, tags: dict[str, str], timeout: float
) -> list[Hop]:
    """Publish a unique probe reading and poll InfluxDB until that exact point appears."""
    value = round(random.uniform(*sensor_range(find_sensor(inventory, sensor_id))), 6)
    reading = reading_for(inventory, sensor_id, value, tags)
    broker = inventory.brokers[reading.broker]
    secrets = resolve_secrets(broker_secrets(broker) + read_secrets(inventory), inventory_dir)
    hops = []
    start = time.monotonic()
    session = open_session(inventory, inventory_dir, reading.broker, secrets)
    hops.append(Hop("connected", True, time.monotonic() - start, session.endpoint.url))
    try:
        session.publish(reading.topic, reading.payload, qos=1)
    finally:
        session.close()
    hops.append(Hop("acknowledged", True, time.monotonic() - start, f"{reading.topic} {reading.payload}"))
    deadline = start + timeout
    while time.monotonic() < deadline:
        if point_stored(inventory, secrets, sensor_id, value):
            hops.append(Hop("stored", True, time.monotonic() - start, f"InfluxDB has {sensor_id}={value}"))
            return hops
        time.sleep(0.25)
    hops.append(
        Hop(
            "stored",
            False,
            None,
            f"not in InfluxDB after {timeout:.0f}s: the broker took the reading but Telegraf did not "
            "store it; check `polysource logs telegraf` (is it running, subscribed, writing?)",
        )
    )
    return hops
