"""The validated inventory: what a team declares, with safe defaults filled in.

Field rules live here: types, ranges, names every downstream tool can carry (TOML, InfluxQL,
Flux, MQTT, YAML, shell), secret references. Rules that relate one field or section to another
(a stream's broker exists, min below max, ...) live in `rules.py` and read the raw data, so
every problem is reported at once even when some field here fails.
"""

import ipaddress
import math
import re
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictBool, StrictInt
from pydantic_core import PydanticCustomError

from polysource import secrets
from polysource.durations import MIN_RETENTION_S, seconds
from polysource.inventory.boards import BOARDS, GENERIC
from polysource.inventory.calendar import EXAMPLES as CALENDAR_EXAMPLES
from polysource.inventory.calendar import CalendarError, check_calendar
from polysource.inventory.units import GRAFANA_UNITS, grafana_unit
from polysource.services import MAX_TELEGRAFS, SERVICES, TELEGRAF

PROJECT = r"^[a-z0-9][a-z0-9_-]{0,39}$"
DEVICE = r"^[a-z0-9][a-z0-9_-]{0,30}$"  # a folder, an Arduino sketch name and a C identifier part
NAME = r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$"
# RFC 5322's addr-spec, printable ASCII only (no control characters, no bidirectional overrides
# that show another address than the one mail goes to), no quoting: user@domain.
EMAIL_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
EMAIL = rf"^[A-Za-z0-9!#$%&'*+/=?^_`{{|}}~.-]{{1,64}}@{EMAIL_LABEL}(?:\.{EMAIL_LABEL})*$"
DURATION = r"^([1-9][0-9]{0,6}(s|m|h|d|w)|inf)$"
# A JSON key, or a dotted path of keys for nested payloads ({"data": {"temp": 21}} -> data.temp).
JSON_PATH = r"^[A-Za-z_][A-Za-z0-9_-]{0,63}(\.[A-Za-z_][A-Za-z0-9_-]{0,63}){0,7}$"
HOST_LABEL = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")
COLOR = r"^([a-z]+(-[a-z]+)*|#[0-9A-Fa-f]{6}|#[0-9A-Fa-f]{8})$"
IMAGE = (
    r"^[a-z0-9][a-z0-9._/-]*(:[0-9]{1,5})?(/[a-z0-9._-]+)*"
    r"(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(@sha256:[0-9a-f]{64})?$"
)
# InfluxDB and Telegraf names that carry meaning of their own.
RESERVED_KEYS = frozenset({"time", "_field", "_measurement", "_value", "_time", "_start", "_stop"})
MAX_TOPIC_BYTES = 65535  # MQTT 3.1.1, section 1.5.3


def _port(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
        raise PydanticCustomError("port", "expected an integer 1-65535, got {got}", {"got": repr(value)})
    return value


def _secret(value: Any) -> str:
    if not isinstance(value, str) or not secrets.parse(value):
        # Never echo the value: it may be the very secret that must not be written anywhere.
        raise PydanticCustomError(
            "literal_secret",
            "a secret must be an environment reference such as ${HIVEMQ_PASSWORD}, "
            "with its value in the .env beside the inventory; literal values are refused",
        )
    return _usable_reference(value)


def _usable_reference(value: str) -> str:
    found = secrets.parse(value)
    if found and (reason := secrets.reserved_reason(found.var)):
        raise PydanticCustomError("reserved_secret", reason)
    return value


def _text(value: Any) -> str:
    """Printable text, one line: it ends up in TOML, JSON, YAML, comments and panel titles."""
    if not isinstance(value, str):
        raise PydanticCustomError("string_type", "expected a string, got {got}", {"got": repr(value)})
    if not value.strip():
        raise PydanticCustomError("empty", "must not be empty")
    if not value.isprintable():
        raise PydanticCustomError("control", "must be one line of printable text (no control characters)")
    return value


def _username(value: Any) -> str:
    return _usable_reference(_text(value))


TELEGRAF_SECRET_REFERENCE = re.compile(r"@\{\w+:\w+\}")  # telegraf config/secret.go: no escape


def _telegraf_username(value: Any) -> str:
    """A broker account Telegraf logs in with: `@{store:key}` in it is a secret-store reference to
    Telegraf, which has no escape for it (it stops: "unknown secret store")."""
    text = _username(value)
    if TELEGRAF_SECRET_REFERENCE.search(text):
        raise PydanticCustomError(
            "telegraf_secret",
            "{got}: Telegraf reads @{...:...} as a secret-store reference (it has no "
            "escape); choose another account name",
            {"got": repr(text)},
        )
    return text


def _unit(value: Any) -> str:
    if not isinstance(value, str) or grafana_unit(value) is None:
        known = ", ".join(sorted(GRAFANA_UNITS))
        raise PydanticCustomError(
            "unit", "unknown unit {got}; known units: {known}", {"got": repr(value), "known": known}
        )
    return value


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        raise PydanticCustomError("finite", "expected a finite number, got {got}", {"got": repr(value)})
    return value


def _host(value: Any) -> str:
    """A DNS name or an IP address, nothing around it (no scheme, port or path)."""
    text = _text(value)
    if "://" in text:
        raise PydanticCustomError(
            "host", "write the host name only (transport, port and path are keys of their own)"
        )
    if "%" in text:  # fe80::1%lo: a zone Telegraf's URLs and the boards cannot carry
        raise PydanticCustomError(
            "host",
            "{got}: an address with a zone (%) cannot be a broker's; use a routable one",
            {"got": repr(text)},
        )
    try:
        ipaddress.ip_address(text)
        return text
    except ValueError:
        pass
    if ":" in text and text.count(":") == 1:
        raise PydanticCustomError("host", "write the port as `port:`, not in the host name")
    labels = text.rstrip(".").split(".")
    if len(text) > 253 or not all(HOST_LABEL.match(label) for label in labels):
        raise PydanticCustomError(
            "host", "{got} is not a host name (letters, digits, - and . only)", {"got": repr(text)}
        )
    return text


def _publish(value: Any) -> Any:
    """PORT or ADDRESS:PORT ([v6]:PORT), as Docker publishes it; normalised to text."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return str(_port(value))
    if not isinstance(value, str):
        return value
    address, colon, port = value.rpartition(":")
    if not re.fullmatch(r"[0-9]{1,5}", port) or (colon and not address):
        raise PydanticCustomError("publish", "PORT or ADDRESS:PORT, e.g. 8086 or 127.0.0.1:8086")
    _port(int(port))
    literal = address[1:-1] if address.startswith("[") and address.endswith("]") else address
    if address:
        try:
            parsed = ipaddress.ip_address(literal)
        except ValueError:
            raise PydanticCustomError(
                "publish",
                "{got} is not an IP address (Docker binds addresses, not names)",
                {"got": repr(address)},
            ) from None
        if parsed.version == 6 and literal == address:
            raise PydanticCustomError("publish", "write an IPv6 address in brackets: [::1]:8086")
    return f"{address}:{int(port)}" if address else str(int(port))


def published(value: str) -> tuple[str, int]:
    """(address, port) of a `publish` value; address "" is every interface, brackets dropped."""
    address, _, port = value.rpartition(":")
    return address.strip("[]"), int(port)


def _retention(value: Any) -> Any:
    if isinstance(value, str) and re.match(DURATION, value) and seconds(value) < MIN_RETENTION_S:
        raise PydanticCustomError("retention", "InfluxDB keeps data at least 1h: use 1h or more, or inf")
    return value


def _not_reserved_key(value: Any) -> Any:
    if isinstance(value, str) and value.split(".")[-1] in RESERVED_KEYS:
        raise PydanticCustomError(
            "reserved_key", "{got} is a name InfluxDB reserves; choose another", {"got": repr(value)}
        )
    return value


def _at_least_10s(value: Any) -> Any:
    if isinstance(value, str) and re.match(DURATION, value) and seconds(value) < 10:
        raise PydanticCustomError("every", "means over 10s or more")
    return value


def _database(value: Any) -> Any:
    if isinstance(value, str) and value.startswith("_"):
        raise PydanticCustomError(
            "reserved_db", "names starting with _ are InfluxDB's own (_internal, _monitoring, ...)"
        )
    return value


def _websocket_path(value: Any) -> Any:
    if isinstance(value, str) and not re.match(r"^/[A-Za-z0-9._~/-]*$", value):
        raise PydanticCustomError("path", "a websocket path such as /mqtt (letters, digits, / . _ ~ -)")
    return value


def _topic(value: Any) -> str:
    text = value if isinstance(value, str) else _text(value)
    if not text:
        raise PydanticCustomError("empty", "must not be empty")
    if len(text.encode()) > MAX_TOPIC_BYTES:
        raise PydanticCustomError("topic_length", "an MQTT topic has at most 65535 bytes")
    if not text.isprintable():
        raise PydanticCustomError("control", "MQTT topics must not hold control characters")
    return text


Port = Annotated[int, BeforeValidator(_port), Field(json_schema_extra={"minimum": 1, "maximum": 65535})]
SecretRef = Annotated[
    str,
    BeforeValidator(_secret),
    Field(pattern=secrets.REFERENCE.pattern, description="An environment reference, ${VAR}."),
]
Text = Annotated[str, BeforeValidator(_text), Field(max_length=200)]
Unit = Annotated[str, BeforeValidator(_unit), Field(description="One of polysource's units.")]
Name = Annotated[str, Field(pattern=NAME)]
FieldName = Annotated[str, BeforeValidator(_not_reserved_key), Field(pattern=JSON_PATH)]
Duration = Annotated[str, Field(pattern=DURATION, description="e.g. 30s, 10m, 90d, inf")]


def _finite_duration(value: Any) -> Any:
    if value == "inf":
        raise PydanticCustomError(
            "finite", "must be a finite duration such as 60s or 5m (inf: only for retention)"
        )
    return value


FiniteDuration = Annotated[
    Duration, BeforeValidator(_finite_duration), Field(description="e.g. 30s, 10m, 1h")
]
Number = Annotated[float, BeforeValidator(_finite)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


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
    path: Annotated[str, BeforeValidator(_websocket_path)] | None = Field(
        None, description="Websocket path, e.g. /mqtt."
    )

    @property
    def effective_port(self) -> int:
        return self.port or self.transport.default_port


def _one_or_many(value: Any) -> Any:
    return [value] if isinstance(value, dict) else value


def _topic_filter(value: Any) -> str:
    """A topic or filter an account is allowed, as an MQTT filter and a line of Mosquitto's
    acl_file: + and # whole levels, # last, no surrounding blanks (the file trims them)."""
    text = _topic(value)
    if text != text.strip():
        raise PydanticCustomError("blanks", "a topic filter must not start or end with a blank")
    if text.startswith("$share/"):
        raise PydanticCustomError("shared", "name the topic filter itself, without $share/GROUP/")
    levels = text.split("/")
    for i, level in enumerate(levels):
        if ("+" in level or "#" in level) and level not in ("+", "#"):
            raise PydanticCustomError("wildcard", "+ and # stand alone in a topic level")
        if level == "#" and i != len(levels) - 1:
            raise PydanticCustomError("wildcard", "# is only the last level")
    return text


TopicFilter = Annotated[str, BeforeValidator(_topic_filter)]


class Client(Strict):
    """An account on the managed broker that no board (or not only a board) uses: what it may do."""

    password: SecretRef
    publish: list[TopicFilter] = Field(
        default_factory=list, description="Topics (or filters) it may publish to, e.g. polysource/capteurs."
    )
    subscribe: list[TopicFilter] = Field(
        default_factory=list, description="Topic filters it may receive messages on, e.g. polysource/#."
    )


def _fallback_schema(schema: dict[str, Any]) -> None:
    """fallback takes one endpoint or a list; the model normalises it to a list."""
    listed = schema["properties"]["fallback"]
    one = listed["items"]
    schema["properties"]["fallback"] = {
        "anyOf": [one, {"type": "array", "items": one}],
        "description": listed.get("description", ""),
    }


class Broker(Strict):
    """An MQTT broker: a cloud one (HiveMQ Cloud) or one the stack runs (managed)."""

    model_config = ConfigDict(json_schema_extra=_fallback_schema)

    managed: StrictBool = Field(False, description="Run Mosquitto inside the stack (true or false).")
    host: Annotated[str, BeforeValidator(_host)] | None = Field(
        None, description="Broker host name (HiveMQ Cloud needs the name, for SNI)."
    )
    port: Port | None = None
    transport: Transport = Field(
        Transport.TLS, description="Default: tls (a managed broker: tls, or tcp with insecure_lan: true)."
    )
    path: Annotated[str, BeforeValidator(_websocket_path)] | None = Field(
        None, description="Websocket path, e.g. /mqtt."
    )
    username: Annotated[str, BeforeValidator(_telegraf_username)] | None = Field(
        None, description="Plain text, or a ${VAR} reference."
    )
    password: SecretRef | None = None
    ca_file: Annotated[str, BeforeValidator(_text)] | None = Field(
        None, description="PEM CA to trust, inside the inventory's folder; default: system CAs."
    )
    fallback: Annotated[list[Endpoint], BeforeValidator(_one_or_many)] = Field(
        default_factory=list, description="An endpoint, or a list tried in order when the main one fails."
    )
    insecure_lan: StrictBool = Field(
        False,
        description="Managed broker only: plain MQTT on 1883 instead of TLS with the stack's own CA "
        "(every password and reading then crosses the LAN in clear).",
    )
    clients: dict[Name, SecretRef | Client] = Field(
        default_factory=dict,
        description="Managed broker only: its accounts, each a ${VAR} password or {password, publish, "
        "subscribe}. An account publishes its boards' topics and what `publish:` adds, receives what "
        "`subscribe:` lists, and nothing else.",
    )
    window: StrictInt | None = Field(
        None,
        ge=1,
        le=65535,
        description="QoS 1 messages the broker sends Telegraf before waiting for its acknowledgements "
        "(its in-flight window; Telegraf acknowledges once written). Default: 50 for HiveMQ Cloud "
        "(*.hivemq.cloud), 20 otherwise (Mosquitto's max_inflight_messages); a managed broker is "
        "given this window.",
    )

    def client_password(self, user: str) -> str:
        """A client account's ${VAR} password reference."""
        client = self.clients[user]
        return client if isinstance(client, str) else client.password

    def client_rights(self, user: str) -> tuple[list[str], list[str]]:
        """(publish, subscribe) the inventory grants a client beyond its boards' topics."""
        client = self.clients[user]
        return ([], []) if isinstance(client, str) else (client.publish, client.subscribe)

    @property
    def effective_transport(self) -> Transport:
        if self.managed:
            return Transport.TCP if self.insecure_lan else Transport.TLS
        return self.transport

    @property
    def effective_port(self) -> int:
        return self.port or self.effective_transport.default_port


class PayloadFormat(Strict):
    """Where the JSON payload keeps the value, and optionally the sensor id and unit."""

    value: FieldName = Field("value", description="JSON key (or dotted path) of the reading.")
    sensor: FieldName | None = Field(None, description="JSON key of the sensor id, for shared topics.")
    unit: FieldName | None = Field(None, description="JSON key of the unit, stored as a tag.")
    time: FieldName | None = Field(
        None,
        description="JSON key of the time the reading was measured, in Unix milliseconds: a board's "
        "queued readings land at their own time. A payload without it is stored at its arrival.",
    )


class Stream(Strict):
    """One subscription: a topic pattern on a broker and the shape of its payloads."""

    broker: str
    topic: Annotated[str, BeforeValidator(_topic)] = Field(
        description="MQTT topic; {name} levels become tags, {sensor} names the sensor."
    )
    format: PayloadFormat = PayloadFormat()
    measurement: Annotated[Name, BeforeValidator(_database)] | None = Field(
        None, description="InfluxDB measurement; default: the stream name."
    )
    qos: Literal[0, 1, 2] = 1
    client_id: Annotated[str, BeforeValidator(_text), Field(max_length=128)] | None = Field(
        None, description="Default: polysource-<project>-<stream>-<topic hash>."
    )


class Threshold(Strict):
    value: Number
    color: Annotated[str, Field(pattern=COLOR, description="A Grafana color name or #rrggbb.")]


class Sensor(Strict):
    stream: str
    name: Text | None = Field(None, description="Panel title; default: the sensor id.")
    unit: Unit
    decimals: StrictInt = Field(2, ge=0, le=6, description="Digits a board writes after the point (99.9: 1).")
    min: Number | None = None
    max: Number | None = None
    group: Text = "default"
    interval: FiniteDuration = Field("60s", description="Expected time between readings.")
    thresholds: list[Threshold] = Field(default_factory=list, max_length=20)


class Tier(Strict):
    """A long-term series: means over `every`, kept `keep` (InfluxDB 1: a retention policy and a
    continuous query; InfluxDB 2: a bucket and a task)."""

    every: Annotated[FiniteDuration, BeforeValidator(_at_least_10s)] = Field(description="e.g. 5m")
    keep: Annotated[Duration, BeforeValidator(_retention)] = Field(description="e.g. 104w, or inf")
    groups: list[Text] = Field(default_factory=list, description="Only these sensor groups; default: all.")


class InfluxDB(Strict):
    """InfluxDB in the stack. 1 = InfluxQL (runs on 32-bit Pi OS); 2 = Flux (64-bit only)."""

    version: Literal[1, 2] = 1
    publish: Annotated[str | None, BeforeValidator(_publish)] = Field(
        None,
        description="Publish InfluxDB's HTTP API on the Docker host: PORT (every interface) or "
        "ADDRESS:PORT, e.g. 127.0.0.1:8086. Default: not published; polysource's own tools reach "
        "InfluxDB through the Docker API.",
    )
    database: Annotated[Name, BeforeValidator(_database)] = Field(
        "polysource", description="Database (v1) or bucket (v2)."
    )
    retention: Annotated[Duration, BeforeValidator(_retention)] = "90d"
    organization: Name = Field("polysource", description="v2 only.")
    admin_user: Name = "admin"
    admin_password: SecretRef = "${INFLUXDB_ADMIN_PASSWORD}"
    write_user: Name = Field("telegraf", description="v1: the account Telegraf writes with.")
    write_password: SecretRef = "${INFLUXDB_WRITE_PASSWORD}"
    read_user: Name = Field("grafana", description="v1: the account Grafana reads with.")
    read_password: SecretRef = "${INFLUXDB_READ_PASSWORD}"
    token: SecretRef = Field("${INFLUXDB_TOKEN}", description="v2: the operator token.")
    downsample: list[Tier] = Field(
        default_factory=list, max_length=4, description="Long-term series of means, converged by deploy."
    )


class Storage(Strict):
    influxdb: InfluxDB = InfluxDB()


def _calendar(value: Any) -> Any:
    """A systemd OnCalendar expression, checked here rather than when the timer loads."""
    if isinstance(value, str):
        try:
            check_calendar(value)
        except CalendarError as error:
            raise PydanticCustomError(
                "calendar",
                "not a systemd calendar expression: {why}; " + CALENDAR_EXAMPLES,
                {"why": str(error)},
            ) from None
    return value


class Backup(Strict):
    """`polysource backup` with no --to writes here, and keeps this many archives."""

    to: Annotated[str, BeforeValidator(_text)] = Field(
        "backups", description="Folder, relative to the inventory."
    )
    keep: StrictInt = Field(7, ge=1, le=365)
    schedule: Annotated[str, BeforeValidator(_calendar), BeforeValidator(_text)] | None = Field(
        "*-*-* 03:00:00", description="systemd OnCalendar for the timer render writes; null: none."
    )


def _email(value: Any) -> str:
    text = _text(value)
    if not re.fullmatch(EMAIL, text):
        raise PydanticCustomError(
            "email",
            "{got} is not an address Grafana can send to: user@domain in printable ASCII (no spaces, "
            "quotes, control characters or direction overrides)",
            {"got": repr(text)},
        )
    return text


def _host_port(value: Any) -> Any:
    """Grafana's smtp host is host:port (it has no default port): a bare host fails at send time."""
    text = _text(value)
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise PydanticCustomError("host_port", "expected host:port, e.g. smtp.gmail.com:587")
    _host(host.removeprefix("[").removesuffix("]"))
    return text


class Smtp(Strict):
    host: Annotated[str, BeforeValidator(_host_port)] = Field(
        description="host:port, e.g. smtp.gmail.com:587"
    )
    user: Annotated[str, BeforeValidator(_username)]
    password: SecretRef
    sender: Annotated[str, BeforeValidator(_text)] = Field(description="The From: address.")


class Alerts(Strict):
    """Grafana alert rules from the inventory: sensors.*.thresholds, and silent sensors."""

    webhook: SecretRef | None = Field(None, description="A URL (${VAR}: it may hold a token).")
    email: list[Annotated[str, BeforeValidator(_email)]] = Field(default_factory=list)
    smtp: Smtp | None = Field(None, description="Grafana's mail server, for email.")
    silent_after: StrictInt = Field(
        3, ge=2, le=100, description="A sensor silent for this many intervals alerts."
    )
    pending: FiniteDuration = Field("5m", description="How long a threshold must hold before it alerts.")


class Telegraf(Strict):
    """Ingestion: how many Telegrafs share the subscriptions (MQTT `$share/<project>/...`)."""

    instances: StrictInt = Field(
        1,
        ge=1,
        le=MAX_TELEGRAFS,
        description="Above 1, each reading goes to one of them (shared subscriptions, Mosquitto 2, HiveMQ).",
    )


class Grafana(Strict):
    admin_user: Name = "admin"
    admin_password: SecretRef = "${GRAFANA_ADMIN_PASSWORD}"
    port: Port = 3000


class Modem(StrEnum):
    """How a board reaches the Internet: a GSM/LTE modem family (TinyGSM's names), or WiFi."""

    SIM800 = "sim800"
    SIM7000 = "sim7000"
    SIM7080 = "sim7080"
    SIM7600 = "sim7600"
    A7672X = "a7672x"
    BG96 = "bg96"
    WIFI = "wifi"


class Pins(Strict):
    """Overrides of the board preset's modem pins (a GPIO number; null: the board has none)."""

    rx: StrictInt | None = Field(None, ge=0, le=48, description="The ESP32's UART RX (the modem's TX).")
    tx: StrictInt | None = Field(None, ge=0, le=48, description="The ESP32's UART TX (the modem's RX).")
    baud: StrictInt | None = Field(None, ge=1200, le=921600)
    pwrkey: StrictInt | None = Field(
        None, ge=0, le=48, description="The modem's PWRKEY, pressed at power-up."
    )
    power_enable: StrictInt | None = Field(None, ge=0, le=48, description="Driven HIGH: the modem's supply.")
    flight: StrictInt | None = Field(
        None, ge=0, le=48, description="Driven HIGH: the modem leaves flight mode."
    )
    reset: StrictInt | None = Field(
        None, ge=0, le=48, description="The modem's reset, held at its idle level."
    )
    dtr: StrictInt | None = Field(None, ge=0, le=48, description="Held LOW: the modem stays awake.")

    def overrides(self) -> dict[str, int | None]:
        """The pins the inventory sets (null included), by role."""
        return {name: getattr(self, name) for name in sorted(self.model_fields_set)}


def _board(value: Any) -> Any:
    if isinstance(value, str) and value not in BOARDS:
        raise PydanticCustomError(
            "board", "unknown board {got} (known: {known})", {"got": repr(value), "known": ", ".join(BOARDS)}
        )
    return value


def _keepalive(value: Any) -> Any:
    """MQTT carries the keepalive in 16 bits: 65535 s at most (above, it wraps on the wire)."""
    if isinstance(value, str) and re.match(DURATION, value) and not 1 <= seconds(value) <= 65535:
        raise PydanticCustomError("keepalive", "MQTT's keepalive is 1s-65535s (16 bits on the wire)")
    return value


def _board_interval(value: Any) -> Any:
    """The board counts milliseconds in 32 bits: at most 49 days between readings."""
    if isinstance(value, str) and re.match(DURATION, value) and seconds(value) * 1000 >= 2**32:
        raise PydanticCustomError("interval", "a board reads at least every 49d (its millis() wraps)")
    return value


class Device(Strict):
    """A board (ESP32) that publishes some sensors' readings to a stream's broker and topic."""

    stream: str
    sensors: list[Name] = Field(min_length=1, description="Sensor ids this board reads.")
    username: Annotated[str, BeforeValidator(_username)] | None = Field(
        None, description="Its broker account (text or ${VAR}); a managed broker's client name."
    )
    password: SecretRef | None = Field(
        None, description="Its broker password; a managed client's by default."
    )
    board: Annotated[str, BeforeValidator(_board)] | None = Field(
        None,
        description="The board, for its modem wiring and power-up: "
        + ", ".join(name for name in BOARDS if name != GENERIC)
        + f", {GENERIC} (the default).",
    )
    modem: Modem | None = Field(None, description="Default: the board's own modem (wifi on esp32-generic).")
    apn: SecretRef | None = Field(None, description="The SIM's APN, named for the board's secrets.h.")
    pins: Pins = Pins()
    interval: Annotated[FiniteDuration, BeforeValidator(_board_interval)] = Field(
        "60s", description="Time between two readings of each sensor."
    )
    keepalive: Annotated[FiniteDuration, BeforeValidator(_keepalive)] = Field(
        "60s", description="MQTT keepalive, 1s-65535s: 60 s or more on GSM."
    )
    tags: dict[str, Annotated[str, BeforeValidator(_text)]] = Field(
        default_factory=dict, description="Values for the topic's {name} levels other than {sensor}."
    )
    client_id: Annotated[str, BeforeValidator(_text), Field(max_length=64)] | None = Field(
        None, description="Default: <project>-<device>, unique per board."
    )


Platform = Literal["linux/arm/v7", "linux/arm64", "linux/amd64"]
ServiceName = Literal["telegraf", "influxdb", "grafana", "mosquitto"]  # services.SERVICES, checked by a test


def _docker_host(value: Any) -> Any:
    if isinstance(value, str) and not re.match(r"^(unix|tcp|ssh|npipe)://", value):
        raise PydanticCustomError(
            "docker_host",
            "expected unix:///path, tcp://host:port or ssh://user@host, got {got}",
            {"got": repr(value)},
        )
    if isinstance(value, str):
        _text(value)
    return value


LABEL_KEY = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$"
LABEL_VALUE = r"^[A-Za-z0-9._/-]{1,63}$"
SWARM_SERVICE = rf"^({TELEGRAF}(-[1-{MAX_TELEGRAFS}])?|{'|'.join(s for s in SERVICES if s != TELEGRAF)})$"


class Swarm(Strict):
    """Deploy as Docker Swarm services: one inventory across several hosts (`docker swarm init`
    on one, `docker swarm join` on the others; deploy talks to a manager)."""

    placement: dict[
        Annotated[str, Field(pattern=SWARM_SERVICE)],
        dict[Annotated[str, Field(pattern=LABEL_KEY)], Annotated[str, Field(pattern=LABEL_VALUE)]],
    ] = Field(
        default_factory=dict,
        description="service -> node labels it runs on, e.g. {influxdb: {disk: ssd}, telegraf-1: {site: a}}; "
        "label nodes with `docker node update --label-add disk=ssd NODE`.",
    )
    mesh: bool = Field(
        False,
        description="Publish ports through the routing mesh (any node answers; needs the kernel's IPVS). "
        "Default: on the node the service runs on, services found by DNS (works on any kernel).",
    )
    nodes: dict[Annotated[str, Field(pattern=LABEL_VALUE)], Annotated[str, BeforeValidator(_docker_host)]] = (
        Field(
            default_factory=dict,
            description="node hostname -> its Docker API (ssh://pi@host): where deploy converges InfluxDB "
            "and Grafana when they run on a node other than the manager.",
        )
    )


class Target(Strict):
    docker_host: Annotated[str, BeforeValidator(_docker_host)] = Field(
        "unix:///var/run/docker.sock", description="unix://, tcp:// or ssh://user@host"
    )
    address: Annotated[str, BeforeValidator(_host)] | None = Field(
        None,
        description="The Docker host's name as boards and this laptop reach it (a managed broker, the "
        "published ports); default: the host of docker_host, or localhost for unix://.",
    )
    platform: Platform = "linux/arm64"
    storage_gb: float | None = Field(
        None, gt=0, description="The Pi's card or disk, for render's disk estimate."
    )
    images: dict[ServiceName, Annotated[str, Field(pattern=IMAGE, max_length=255)]] = Field(
        default_factory=dict, description="Image overrides, e.g. for a private registry."
    )
    swarm: Swarm | None = Field(None, description="Deploy to a Docker Swarm (docker_host: a manager).")


class Inventory(Strict):
    """The single source of truth for one sensor-to-dashboard stack.

    Numbers are read as YAML 1.2 reads them: 5e1 is 50, 0x1F and 0o17 are hex and octal, and a
    leading zero (03000, octal in YAML 1.1) is refused; quote a value to keep it as text.
    """

    project: Annotated[str, Field(pattern=PROJECT)]
    brokers: dict[Name, Broker] = Field(min_length=1)
    streams: dict[Name, Stream] = Field(min_length=1)
    sensors: dict[Name, Sensor] = Field(default_factory=dict)
    devices: dict[Annotated[str, Field(pattern=DEVICE)], Device] = Field(
        default_factory=dict, description="Boards: render writes each one's firmware folder."
    )
    storage: Storage = Storage()
    grafana: Grafana = Grafana()
    telegraf: Telegraf = Telegraf()
    target: Target = Target()
    backup: Backup = Backup()
    alerts: Alerts | None = None
