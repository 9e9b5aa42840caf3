"""Rules that relate one part of the inventory to another.

They read the raw YAML data, not the model, so they still run (and report) when some other part
of the file failed type checks: the user sees every problem in one go.
"""

from collections.abc import Iterator
from pathlib import Path as FsPath
from typing import Any

from polysource.images import ImageError, check_platform
from polysource.topics import PLACEHOLDER

Path = tuple[str | int, ...]


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def cross_problems(data: dict[str, Any], base: FsPath) -> Iterator[tuple[Path, str]]:
    """(path, message) for every broken reference between sections or to files."""
    brokers = _mapping(data.get("brokers"))
    for name, broker in brokers.items():
        ca_file = _mapping(broker).get("ca_file")
        if isinstance(ca_file, str) and not (base / ca_file).is_file():
            yield ("brokers", name, "ca_file"), f"no such file: {base / ca_file}"
    streams = _mapping(data.get("streams"))
    for name, stream in streams.items():
        stream = _mapping(stream)
        broker = stream.get("broker")
        if isinstance(broker, str) and broker not in brokers:
            yield ("streams", name, "broker"), _unknown("broker", broker, brokers)
        topic = stream.get("topic")
        if isinstance(topic, str):
            yield from ((("streams", name, "topic"), m) for m in topic_problems(topic, stream))
    for name, sensor in _mapping(data.get("sensors")).items():
        stream = _mapping(sensor).get("stream")
        if isinstance(stream, str) and stream not in streams:
            yield ("sensors", name, "stream"), _unknown("stream", stream, streams)
    yield from _platform_problems(data)


def topic_problems(topic: str, stream: dict[str, Any]) -> Iterator[str]:
    segments = topic.split("/")
    names = [m.group(1) for s in segments if (m := PLACEHOLDER.match(s))]
    if any(("+" in s or "#" in s) for s in segments):
        yield "write {name} segments instead of MQTT wildcards, so they can become tags"
    if any(("{" in s or "}" in s) and not PLACEHOLDER.match(s) for s in segments):
        yield "a placeholder fills a whole topic level, e.g. polysource/{site}/{sensor}"
    if len(names) != len(set(names)):
        yield "each {name} may appear once in the topic"
    sensor_key = _mapping(stream.get("format")).get("sensor")
    if sensor_key and "sensor" in names:
        yield "the sensor id comes from the topic ({sensor}) or from format.sensor, not both"
    if not sensor_key and "sensor" not in names:
        yield "name the sensor: a {sensor} topic level, or format.sensor for the JSON key"


def _platform_problems(data: dict[str, Any]) -> Iterator[tuple[Path, str]]:
    target = _mapping(data.get("target"))
    platform = target.get("platform", "linux/arm64")
    overrides = _mapping(target.get("images"))
    version = _mapping(_mapping(data.get("storage")).get("influxdb")).get("version", 1)
    managed = any(_mapping(b).get("managed") for b in _mapping(data.get("brokers")).values())
    services = ["telegraf", "influxdb", "grafana"] + (["mosquitto"] if managed else [])
    for service in services:
        if service in overrides or not isinstance(platform, str) or version not in (1, 2):
            continue
        try:
            check_platform(service, platform, influxdb_version=version)
        except ImageError as error:
            yield ("target", "platform"), str(error)


def _unknown(kind: str, name: str, known: dict[str, Any]) -> str:
    names = ", ".join(sorted(map(str, known))) or "none defined"
    return f"unknown {kind} {name!r} (known: {names})"
