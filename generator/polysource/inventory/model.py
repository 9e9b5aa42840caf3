"""The validated inventory: what a team declares, with safe defaults filled in.

Field-level rules live here (types, ranges, secret references); rules that relate one section to
another (a stream's broker exists, ...) live in `crossrefs.py`, so every problem is reported at once.
"""

import re
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

from polysource.units import GRAFANA_UNITS, grafana_unit

SECRET_REF = re.compile(r"^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$")
NAME = r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$"
DURATION = r"^([1-9][0-9]*(s|m|h|d|w)|inf)$"


def _port(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
        raise PydanticCustomError("port", "expected an integer 1-65535, got {got}", {"got": repr(value)})
    return value


def _secret(value: Any) -> str:
    if not isinstance(value, str) or not SECRET_REF.match(value):
        # Never echo the value: it may be the very secret that must not be written anywhere.
        raise PydanticCustomError(
            "literal_secret",
            "a secret must be an environment reference such as ${HIVEMQ_PASSWORD}, "
            "with its value in the .env beside the inventory; literal values are refused",
        )
    return value


def _unit(value: Any) -> str:
    if not isinstance(value, str) or grafana_unit(value) is None:
        known = ", ".join(sorted(GRAFANA_UNITS))
        raise PydanticCustomError(
            "unit", "unknown unit {got}; known units: {known}", {"got": repr(value), "known": known}
        )
    return value


Port = Annotated[int, BeforeValidator(_port), Field(json_schema_extra={"minimum": 1})]
SecretRef = Annotated[
    str,
    BeforeValidator(_secret),
    Field(pattern=SECRET_REF.pattern, description="An environment reference, ${VAR}."),
]
Unit = Annotated[str, BeforeValidator(_unit), Field(description="One of polysource's units.")]
Name = Annotated[str, Field(pattern=NAME)]
Duration = Annotated[str, Field(pattern=DURATION, description="e.g. 30s, 10m, 90d, inf")]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Transport(StrEnum):
    TCP = "tcp"
    TLS = "tls"
    WS = "ws"
    WSS = "wss"

    @property
    def default_port(self) -> int:
        return {"tcp": 1883, "tls": 8883, "ws": 8080, "wss": 8884}[self.value]

    @property
    def scheme(self) -> str:
        """The URL scheme paho (Telegraf's MQTT client) expects."""
        return {"tcp": "tcp", "tls": "ssl", "ws": "ws", "wss": "wss"}[self.value]

    @property
    def websocket(self) -> bool:
        return self in (Transport.WS, Transport.WSS)

    @property
    def encrypted(self) -> bool:
        return self in (Transport.TLS, Transport.WSS)


class Endpoint(Strict):
    """Another way into the same broker, for networks that drop the main port."""

    transport: Transport
    port: Port | None = None
    path: str | None = Field(None, description="Websocket path, e.g. /mqtt.")

    @property
    def effective_port(self) -> int:
        return self.port or self.transport.default_port


class Broker(Strict):
    """An MQTT broker: a cloud one (HiveMQ Cloud) or one the stack runs (managed)."""

    managed: bool = Field(False, description="Run Mosquitto inside the stack.")
    host: str | None = Field(None, description="Broker host name (not an IP: TLS needs SNI).")
    port: Port | None = None
    transport: Transport = Field(Transport.TLS, description="Default: tls, or tcp when managed.")
    path: str | None = Field(None, description="Websocket path, e.g. /mqtt.")
    username: str | None = None
    password: SecretRef | None = None
    ca_file: str | None = Field(
        None, description="PEM CA to trust, relative to the inventory; default: system CAs."
    )
    fallback: Endpoint | list[Endpoint] = Field(
        default_factory=list, description="Tried in order when the main endpoint fails."
    )
    clients: dict[Name, SecretRef] = Field(
        default_factory=dict, description="Managed broker only: device accounts and passwords."
    )

    @model_validator(mode="before")
    @classmethod
    def _managed_default_transport(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("managed") is True and "transport" not in data:
            return {**data, "transport": Transport.TCP}
        return data

    @model_validator(mode="after")
    def _coherent(self) -> "Broker":
        if self.managed:
            if self.host is not None:
                raise PydanticCustomError("managed_host", "a managed broker runs in the stack: drop host")
            if self.transport is not Transport.TCP or self.fallbacks:
                raise PydanticCustomError(
                    "managed_transport", "a managed broker listens with transport tcp only"
                )
        elif not self.host:
            raise PydanticCustomError("host", "host is required unless the broker is managed")
        if self.managed and (self.username is None or self.password is None):
            raise PydanticCustomError(
                "managed_auth", "a managed broker needs username and password (no anonymous MQTT)"
            )
        if (self.password is None) != (self.username is None):
            raise PydanticCustomError("auth_pair", "username and password go together")
        return self

    @property
    def effective_port(self) -> int:
        return self.port or self.transport.default_port

    @property
    def fallbacks(self) -> list[Endpoint]:
        return self.fallback if isinstance(self.fallback, list) else [self.fallback]


class PayloadFormat(Strict):
    """Where the JSON payload keeps the value, and optionally the sensor id and unit."""

    value: str = Field("value", description="JSON key (GJSON path) of the reading.")
    sensor: str | None = Field(None, description="JSON key of the sensor id, for shared topics.")
    unit: str | None = Field(None, description="JSON key of the unit, stored as a tag.")


class Stream(Strict):
    """One subscription: a topic pattern on a broker and the shape of its payloads."""

    broker: str
    topic: str = Field(description="MQTT topic; {name} segments become tags, {sensor} names the sensor.")
    format: PayloadFormat = PayloadFormat()
    measurement: Name | None = Field(None, description="InfluxDB measurement; default: stream name.")
    qos: Literal[0, 1, 2] = 1
    client_id: str | None = Field(None, description="Default: polysource-<project>-<stream>.")


class Threshold(Strict):
    value: float
    color: str


class Sensor(Strict):
    stream: str
    name: str | None = Field(None, description="Panel title; default: the sensor id.")
    unit: Unit
    min: float | None = None
    max: float | None = None
    group: str = "default"
    interval: Duration = Field("60s", description="Expected time between readings.")
    thresholds: list[Threshold] = Field(default_factory=list)

    @model_validator(mode="after")
    def _range(self) -> "Sensor":
        if self.min is not None and self.max is not None and self.min >= self.max:
            raise PydanticCustomError("range", "min must be below max")
        return self


class InfluxDB(Strict):
    """InfluxDB in the stack. 1 = InfluxQL (runs on 32-bit Pi OS); 2 = Flux (64-bit only)."""

    version: Literal[1, 2] = 1
    port: Port = Field(8086, description="Host port InfluxDB's HTTP API is published on.")
    database: Name = Field("polysource", description="Database (v1) or bucket (v2).")
    retention: Duration = "90d"
    organization: Name = Field("polysource", description="v2 only.")
    admin_user: Name = "admin"
    admin_password: SecretRef = "${INFLUXDB_ADMIN_PASSWORD}"
    write_user: Name = Field("telegraf", description="v1: the account Telegraf writes with.")
    write_password: SecretRef = "${INFLUXDB_WRITE_PASSWORD}"
    read_user: Name = Field("grafana", description="v1: the account Grafana reads with.")
    read_password: SecretRef = "${INFLUXDB_READ_PASSWORD}"
    token: SecretRef = Field("${INFLUXDB_TOKEN}", description="v2: the operator token.")


class Storage(Strict):
    influxdb: InfluxDB = InfluxDB()


class Grafana(Strict):
    admin_user: Name = "admin"
    admin_password: SecretRef = "${GRAFANA_ADMIN_PASSWORD}"
    port: Port = 3000


Platform = Literal["linux/arm/v7", "linux/arm64", "linux/amd64"]
ServiceName = Literal["telegraf", "influxdb", "grafana", "mosquitto"]


class Target(Strict):
    docker_host: str = Field("unix:///var/run/docker.sock", description="unix://, tcp:// or ssh://user@host")
    platform: Platform = "linux/arm64"
    images: dict[ServiceName, str] = Field(
        default_factory=dict, description="Image overrides, e.g. for a private registry."
    )


class Inventory(Strict):
    """The single source of truth for one sensor-to-dashboard stack."""

    project: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")]
    brokers: dict[Name, Broker]
    streams: dict[Name, Stream]
    sensors: dict[Name, Sensor]
    storage: Storage = Storage()
    grafana: Grafana = Grafana()
    target: Target = Target()
