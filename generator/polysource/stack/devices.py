"""Boards: each device's connection and readings, as its firmware will carry them."""

import json
import math
from pathlib import Path

from polysource import secrets
from polysource.durations import seconds
from polysource.inventory.boards import BOARDS, GENERIC, with_overrides
from polysource.inventory.certs import read_ca
from polysource.inventory.model import Device, Inventory, Modem, Transport
from polysource.resources import templates_dir
from polysource.stack import paths
from polysource.stack.model import (
    BrokerFacts,
    CaCert,
    Credential,
    DeviceFacts,
    DeviceReading,
    Endpoint,
    SensorFacts,
    StreamFacts,
)
from polysource.topics import SENSOR, fill

# HiveMQ Cloud's chain ends at Let's Encrypt's ISRG Root X1; X2 (ECDSA) for brokers whose chain ends there.
DEFAULT_CAS = ("isrg-root-x1.pem", "isrg-root-x2.pem")
VALUE_MARK = "\0value\0"
TIME_MARK = "\0time\0"
TIME_DIGITS = 16  # Unix milliseconds, and room to spare
CONNECT_FIXED = 16  # MQTT CONNECT's fixed part: protocol name, level, flags, keepalive, lengths


def build_devices(
    inventory: Inventory,
    base: Path,
    brokers: dict[str, BrokerFacts],
    streams: dict[str, StreamFacts],
    sensors: dict[str, SensorFacts],
) -> dict[str, DeviceFacts]:
    return {
        name: _device(inventory, base, name, device, brokers, streams[device.stream], sensors)
        for name, device in inventory.devices.items()
    }


def _endpoint(broker: BrokerFacts) -> Endpoint:
    """The first endpoint a board can use: an ESP32 speaks MQTT over TCP or TLS, not websockets."""
    return next(e for e in broker.endpoints if e.transport in (Transport.TCP, Transport.TLS))


def _payload_template(stream: StreamFacts, sensor_id: str, unit: str, timed: bool = True) -> str:
    payload: dict[str, object] = {}
    for path, value in (
        (stream.value_path, VALUE_MARK),
        (stream.sensor_path, sensor_id),
        (stream.unit_path, unit),
        (stream.time_path if timed else None, TIME_MARK),
    ):
        if path:
            *parents, last = path.split(".")
            node = payload
            for key in parents:
                node = node.setdefault(key, {})  # type: ignore[assignment]
            node[last] = value
    text = json.dumps(payload, ensure_ascii=False).replace("%", "%%")  # the board's format: %% is %
    return text.replace(json.dumps(VALUE_MARK), "%s").replace(json.dumps(TIME_MARK), "%t")


def _device(
    inventory: Inventory,
    base: Path,
    name: str,
    device: Device,
    brokers: dict[str, BrokerFacts],
    stream: StreamFacts,
    sensors: dict[str, SensorFacts],
) -> DeviceFacts:
    broker = brokers[stream.broker]
    broker_model = inventory.brokers[stream.broker]
    endpoint = _endpoint(broker)
    ca, source = None, ""
    if endpoint.transport.encrypted:
        if broker.managed and broker.ca:
            ders = broker.ca.ders
            source = f"the stack's own CA ({paths.pki_folder(inventory.project)}/{paths.PKI_CA})"
        elif broker_model.ca_file:
            ders, source = tuple(read_ca(base, broker_model.ca_file)), f"brokers.{stream.broker}.ca_file"
        else:
            ders = tuple(der for name in DEFAULT_CAS for der in read_ca(templates_dir() / "device", name))
            source = "ISRG Root X1 (HiveMQ Cloud's) and X2, Let's Encrypt's roots"
        ca = CaCert(ders, "", "")
    if broker.managed:
        user = device.username or ""
        password = device.password or broker_model.client_password(user)
    else:
        user, password = device.username or "", device.password or ""
    readings = []
    for sensor_id in device.sensors:
        sensor = sensors[sensor_id]
        low, high = sensor.span
        topic = fill(stream.topic, {**device.tags, SENSOR: sensor_id})
        template = _payload_template(stream, sensor_id, sensor.unit)
        untimed = _payload_template(stream, sensor_id, sensor.unit, timed=False)
        readings.append(
            DeviceReading(sensor_id, topic, template, sensor.unit, sensor.decimals, low, high, untimed)
        )
    secret = secrets.parse(password)
    assert secret is not None, "rules.py: a board has a password reference (its own or its client's)"
    credential = Credential(secrets.secret_or_text(user), secret)
    board = BOARDS[device.board or GENERIC]
    modem = device.modem.value if device.modem else board.modem or Modem.WIFI.value
    client_id = device.client_id or f"{inventory.project}-{name}"
    return DeviceFacts(
        name=name,
        stream=stream.name,
        endpoint=endpoint,
        ca=ca,
        ca_source=source,
        client_id=client_id,
        credential=credential,
        qos=min(stream.qos, 1),  # the board's client does QoS 0 and 1
        keepalive_s=int(seconds(device.keepalive)),
        interval_s=int(seconds(device.interval)),
        readings=tuple(readings),
        modem=modem,
        apn=secrets.parse(device.apn) if device.apn else None,
        board=board,
        wiring=with_overrides(board, device.pins.overrides()),
        buffer_size=_buffer_size(readings, client_id, user),
        timed=stream.time_path is not None,
    )


def _buffer_size(readings: list[DeviceReading], client_id: str, user: str) -> int:
    """Room for the largest PUBLISH (the longest number a reading can take) and for CONNECT with a
    password of up to 128 bytes; the firmware checks its real password against it when it compiles."""
    longest = 0
    for reading in readings:
        digits = len(f"{-max(abs(reading.low), abs(reading.high)) * 10:.{reading.decimals}f}") + 2
        payload = (
            len(reading.payload_template.encode())
            - 2
            + digits
            + (TIME_DIGITS if "%t" in reading.payload_template else 0)
        )
        longest = max(longest, 2 + len(reading.topic.encode()) + 2 + payload)
    connect = CONNECT_FIXED + len(client_id) + 8 + len(user.encode()) + 128
    return 5 + 64 * math.ceil(max(longest, connect) / 64)
