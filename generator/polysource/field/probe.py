"""publish, simulate and verify: readings sent as a sensor would, and followed into InfluxDB."""

import random
import time
from collections.abc import Callable
from dataclasses import dataclass

from polysource import secrets
from polysource.errors import PolysourceError
from polysource.field.mqtt import Session, open_session
from polysource.field.readings import Reading, find_sensor, reading_for
from polysource.runtime.containers import Containers
from polysource.runtime.influx import point_stored, read_secrets, reader_on
from polysource.secrets import Secret, SecretValues
from polysource.stack import Stack
from polysource.stack.model import Credential
from polysource.stack.permissions import publisher


def sender(stack: Stack, reading: Reading) -> Credential | None:
    """The account that sends a reading as its sensor would (stack/permissions.py)."""
    credential = publisher(stack, reading.sensor, reading.broker, reading.topic)
    if credential is None and stack.brokers[reading.broker].managed:
        raise PolysourceError(
            f"no account on the managed broker {reading.broker!r} may publish to {reading.topic}: a "
            f"board that reads {reading.sensor} may, or a client given `publish: [{reading.topic}]` "
            "under the broker's clients"
        )
    return credential


def _values(stack: Stack, wanted: list[Secret]) -> SecretValues:
    return secrets.resolve(wanted, stack.inventory_dir)


def _session(
    stack: Stack, reading: Reading, more: list[Secret] | None = None
) -> tuple[Session, SecretValues]:
    """A session as the reading's sender, and the secrets resolved for it (and `more`)."""
    credential = sender(stack, reading)
    values = _values(stack, (credential.secrets if credential else []) + (more or []))
    return open_session(stack, reading.broker, values, credential), values


def publish(stack: Stack, readings: list[Reading]) -> str:
    """Send readings (all to one broker, one sender) with the stream's QoS; the endpoint that
    took them."""
    session, _ = _session(stack, readings[0])
    try:
        for reading in readings:
            session.publish(reading.topic, reading.payload, reading.qos)
    finally:
        session.close()
    return session.endpoint.url


def random_walk(lo: float, hi: float) -> Callable[[], float]:
    """Readings that move like a real sensor's, inside its range."""
    state = {"value": random.uniform(lo, hi)}

    def step() -> float:
        state["value"] = min(hi, max(lo, state["value"] + random.gauss(0, (hi - lo) / 50)))
        return round(state["value"], 3)

    return step


def simulate(
    stack: Stack,
    sensors: list[str],
    rate: float,
    duration: float,
    tags: dict[str, str],
    progress: Callable[[int], None],
) -> int:
    """Publish rate readings/s in total, round-robin over sensors, for duration seconds."""
    if not sensors:
        raise PolysourceError("the inventory declares no sensors: add one under `sensors:` first")
    walks = {sensor_id: random_walk(*find_sensor(stack, sensor_id).span) for sensor_id in sensors}
    sessions: dict[tuple[str, Credential | None], Session] = {}
    session_of: dict[str, Session] = {}  # by sensor: its sender's, chosen once
    sent = 0
    start = time.monotonic()
    try:
        for sensor_id in sensors:  # every sender connected (and allowed) before the first reading
            reading = reading_for(stack, sensor_id, 0.0, tags)  # the topic's levels and tags checked
            key = (reading.broker, sender(stack, reading))
            if key not in sessions:
                sessions[key] = _session(stack, reading)[0]
            session_of[sensor_id] = sessions[key]
        while time.monotonic() - start < duration:
            sensor_id = sensors[sent % len(sensors)]
            reading = reading_for(stack, sensor_id, walks[sensor_id](), tags)
            session_of[sensor_id].publish(reading.topic, reading.payload, reading.qos)
            sent += 1
            progress(sent)
            time.sleep(max(0.0, min(1.0, start + sent / rate - time.monotonic())))
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
    stack: Stack, containers: Containers, sensor_id: str, tags: dict[str, str], timeout: float
) -> list[Hop]:
    """Publish a unique probe reading and poll InfluxDB (in its container, wherever it runs)
    until that exact point appears."""
    value = round(random.uniform(*find_sensor(stack, sensor_id).span), 6)
    reading = reading_for(stack, sensor_id, value, tags)
    credential = sender(stack, reading)
    values = _values(stack, (credential.secrets if credential else []) + read_secrets(stack.influx))
    reader = reader_on(containers, stack, values)  # before publishing: a stack not deployed is said at once
    hops = []
    start = time.monotonic()
    session = open_session(stack, reading.broker, values, credential)
    hops.append(Hop("connected", True, time.monotonic() - start, session.endpoint.url))
    try:
        session.publish(reading.topic, reading.payload, qos=1)
    finally:
        session.close()
    hops.append(Hop("acknowledged", True, time.monotonic() - start, f"{reading.topic} {reading.payload}"))
    series = stack.series[sensor_id]
    deadline = start + timeout
    while time.monotonic() < deadline:
        if point_stored(reader, series, value):
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
