"""telegraf.conf: one MQTT consumer per stream, parsed with json_v2, written to InfluxDB."""

import hashlib
import math
from dataclasses import dataclass, field

from polysource.durations import seconds
from polysource.inventory.model import Broker, Stream
from polysource.stack import CONFIG_ROOT, INFLUX_PORT, MQTT_PORT, TELEGRAF_HEALTH_PORT, Stack
from polysource.templating import render_template
from polysource.topics import placeholders, subscription

INFLUX_URL = f"${{POLYSOURCE_INFLUXDB_URL:-http://influxdb:{INFLUX_PORT}}}"
FLUSH_INTERVAL_S = 1
BUFFER_MIN = 10_000
BUFFER_MAX = 100_000
OUTAGE_TARGET_S = 24 * 3600


@dataclass(frozen=True)
class TopicParsing:
    topic: str
    tags: str


@dataclass(frozen=True)
class MqttInput:
    alias: str
    servers: list[str]
    topic: str
    qos: int
    client_id: str
    username: str | None
    password: str | None
    tls_ca: str | None
    measurement: str
    tag_paths: list[str]
    value_path: str
    topic_parsing: TopicParsing | None = None
    comment: list[str] = field(default_factory=list)


def ca_file_name(broker_name: str) -> str:
    """Where a broker's pinned CA lands, relative to the telegraf folder."""
    return f"certs/{broker_name}-ca.pem"


def expected_rate(stack: Stack) -> float:
    """Readings per second the inventory announces (each sensor's interval)."""
    return sum(1 / seconds(s.interval) for s in stack.inventory.sensors.values())


def buffer_limit(rate: float) -> int:
    """Enough for a day without InfluxDB at the announced rate, within a Pi's memory."""
    wanted = math.ceil(rate * OUTAGE_TARGET_S)
    return min(BUFFER_MAX, max(BUFFER_MIN, wanted))


def server_urls(broker: Broker) -> list[str]:
    if broker.managed:
        return [f"tcp://mosquitto:{MQTT_PORT}"]
    endpoints = [(broker.transport, broker.effective_port, broker.path)]
    endpoints += [(e.transport, e.effective_port, e.path) for e in broker.fallbacks]
    urls = []
    for transport, port, path in endpoints:
        suffix = (path or "/mqtt") if transport.websocket else ""
        urls.append(f"{transport.scheme}://{broker.host}:{port}{suffix}")
    return urls


def client_id(stack: Stack, name: str, stream: Stream) -> str:
    """Stable across restarts, new when the topic changes.

    A persistent session keeps its first subscription, so a changed topic needs a new session.
    """
    if stream.client_id:
        return stream.client_id
    digest = hashlib.sha256(stream.topic.encode()).hexdigest()[:8]
    return f"polysource-{stack.name}-{name}-{digest}"


def mqtt_input(stack: Stack, name: str, stream: Stream) -> MqttInput:
    broker_name = stream.broker
    broker = stack.inventory.brokers[broker_name]
    names = placeholders(stream.topic)
    parsing = None
    if any(names):
        parsing = TopicParsing(topic=subscription(stream.topic), tags="/".join(name or "_" for name in names))
    fmt = stream.format
    username = broker.username
    return MqttInput(
        alias=name,
        servers=server_urls(broker),
        topic=parsing.topic if parsing else stream.topic,
        qos=stream.qos,
        client_id=client_id(stack, name, stream),
        username=username,
        password=broker.password,
        tls_ca=f"{CONFIG_ROOT}/{ca_file_name(broker_name)}" if broker.ca_file else None,
        measurement=stream.measurement or name,
        tag_paths=[p for p in (fmt.sensor, fmt.unit) if p],
        value_path=fmt.value,
        topic_parsing=parsing,
        comment=[f"Stream {name!r} from broker {broker_name!r}."],
    )


def render_telegraf(stack: Stack) -> str:
    inv = stack.inventory
    rate = expected_rate(stack)
    limit = buffer_limit(rate)
    db = inv.storage.influxdb
    return render_template(
        "telegraf.conf.j2",
        inventory=inv,
        inputs=[mqtt_input(stack, n, s) for n, s in inv.streams.items()],
        influx_url=INFLUX_URL,
        db=db,
        rate=rate,
        buffer_limit=limit,
        buffer_hours=(limit / rate / 3600) if rate else math.inf,
        flush_interval=f"{FLUSH_INTERVAL_S}s",
        health_port=TELEGRAF_HEALTH_PORT,
    )
