"""The stack model: what runs, and every fact derived from the inventory, computed once.

Renderers write files from it, deploy turns it into Docker SDK calls, and the field tools
(doctor, publish, verify, ...) find brokers and readings through it. None of them re-derives
a URL, a measurement, a path or which secret a service needs.
"""

import ipaddress
import ssl
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from polysource.inventory.boards import Board, Wiring
from polysource.inventory.model import Backup, Inventory, Swarm, Threshold, Transport
from polysource.secrets import TLS_CERT, TLS_KEY, Secret
from polysource.services import Lifecycle
from polysource.stack import paths

if TYPE_CHECKING:
    from polysource.stack.queries import InfluxDialect


@dataclass(frozen=True)
class Credential:
    """An account: its user (text, or a secret itself) and its password or token."""

    user: str | Secret | None
    password: Secret

    @property
    def secrets(self) -> list[Secret]:
        return sorted({self.password} | ({self.user} if isinstance(self.user, Secret) else set()))


def url_host(host: str) -> str:
    """A host as it stands in a URL: IPv6 addresses in brackets."""
    try:
        return f"[{host}]" if ipaddress.ip_address(host).version == 6 else host
    except ValueError:
        return host


@dataclass(frozen=True)
class Endpoint:
    """One way into a broker from outside the stack (the laptop, a board): main or fallback."""

    broker: str
    host: str
    port: int
    transport: Transport
    path: str | None

    @property
    def url(self) -> str:
        suffix = (self.path or "/mqtt") if self.transport.websocket else ""
        return f"{self.transport.scheme}://{url_host(self.host)}:{self.port}{suffix}"


@dataclass(frozen=True)
class CaCert:
    """A broker's pinned CA: validated certificates, where render puts them, where Telegraf reads them."""

    ders: tuple[bytes, ...]
    output_path: str  # inside output/
    container_path: str  # inside the Telegraf container

    @property
    def pem(self) -> bytes:
        return "".join(ssl.DER_cert_to_PEM_cert(der) for der in self.ders).encode()


@dataclass(frozen=True)
class BrokerTls:
    """The managed broker's TLS: the folder beside the inventory that keeps its CA (polysource.pki),
    the names its certificate is for (the boards' host first), and the two values deploy hands the
    broker, made by polysource from that folder, never asked of the user's .env."""

    folder: Path  # pki/<project>/ beside the inventory
    names: tuple[str, ...]
    cert: Secret = TLS_CERT
    key: Secret = TLS_KEY

    @property
    def made(self) -> tuple[Secret, Secret]:
        return (self.cert, self.key)


@dataclass(frozen=True)
class BrokerFacts:
    name: str
    managed: bool
    telegraf_urls: tuple[str, ...]  # as Telegraf sees them, inside the stack's network
    endpoints: tuple[Endpoint, ...]  # as the laptop and the boards see them, main one first
    credential: Credential | None
    ca: CaCert | None
    device_accounts: dict[str, Secret] = field(default_factory=dict)  # managed only
    window: int = 20  # QoS 1 messages in flight to one session (Mosquitto's max_inflight_messages)
    tls: BrokerTls | None = None  # the managed broker's, unless insecure_lan
    inside_port: int = paths.MQTT_PORT  # the managed broker's, inside the stack's network
    websocket_port: int | None = None  # its websockets listener's, when asked for (endpoints[1])


@dataclass(frozen=True)
class StreamFacts:
    """A subscription and where its readings land: measurement, field and tags."""

    name: str
    broker: str
    topic: str  # the pattern, with {name} levels
    subscription: str  # what Telegraf subscribes to: the filter, or $share/<group>/<filter>
    qos: int
    client_id: str
    measurement: str
    value_path: str  # GJSON path of the reading in the payload
    field: str  # the field it is stored as
    sensor_path: str | None  # JSON path of the sensor id, for shared topics
    unit_path: str | None
    time_path: str | None  # JSON path of the time the reading was measured (Unix ms), if any
    sensor_tag: str  # the tag that holds the sensor id
    topic_tags: str | None  # Telegraf's topic_parsing tags pattern, e.g. "_/site/sensor"
    tag_paths: tuple[str, ...]  # JSON paths stored as tags
    topic_filter: str = ""  # the plain MQTT filter the topics match (topic_parsing's pattern)
    instances: int = 1  # Telegrafs sharing the subscription; above 1, client ids end in -<n>

    def client_ids(self) -> list[str]:
        """The session ids at the broker: one per Telegraf."""
        if self.instances == 1:
            return [self.client_id]
        return [f"{self.client_id}-{n}" for n in range(1, self.instances + 1)]


@dataclass(frozen=True)
class Series:
    """Where one sensor's readings are stored, for dashboards, verify, status and alerts."""

    sensor: str
    stream: str
    measurement: str
    field: str
    tag: str  # tag key holding the sensor id (value: the sensor id)


@dataclass(frozen=True)
class SensorFacts:
    """One sensor as the renderers, `status` and the firmware read it: where its readings land,
    how often it reports (its board's interval when a board reads it: the board sends every
    reading each time), its unit, range and thresholds."""

    id: str
    name: str | None  # the inventory's; None: titles show the id
    stream: str
    group: str
    unit: str  # as the inventory writes it
    grafana_unit: str | None  # Grafana's unit id, None when polysource has none
    decimals: int  # digits a board writes after the point
    min: float | None
    max: float | None
    thresholds: tuple[Threshold, ...]  # by value
    interval: str  # as the inventory writes it (its board's, when a board reads it)
    interval_s: float
    silent_s: int  # no reading for this long and it counts as silent (alerts, status)
    series: Series
    device: str | None = None  # the board that reads it

    @property
    def title(self) -> str:
        return self.name or self.id

    @property
    def span(self) -> tuple[float, float]:
        """Where a made-up reading moves (a board's placeholder, `simulate`): min-max, or 100
        wide from min (or 0) where the inventory gives no max."""
        low = self.min if self.min is not None else 0.0
        high = self.max if self.max is not None else low + 100.0
        return (low, high) if high > low else (low, low + 100.0)

    @property
    def every_s(self) -> int:
        """How often it reports, in whole seconds (at least 1): a panel's finest bucket."""
        return max(1, int(self.interval_s))


@dataclass(frozen=True)
class TierSource:
    """One measurement a tier averages: its field, and the sensors it keeps (all when empty)."""

    measurement: str
    field: str
    tag: str
    sensors: tuple[str, ...] = ()


@dataclass(frozen=True)
class Tier:
    """A long-term series of means: a retention policy (v1) or a bucket (v2) named `name`."""

    every: str
    keep: str
    name: str
    sources: tuple[TierSource, ...]

    @property
    def label(self) -> str:
        return f"{self.every} means"


@dataclass(frozen=True)
class InfluxFacts:
    version: int
    database: str  # or bucket
    organization: str
    retention: str
    published: tuple[str, int] | None  # (address, port) on the Docker host; None: not on the LAN
    url_inside: str  # as Telegraf and Grafana reach it (polysource's tools: through the Docker API)
    url_outside: str | None  # as the laptop reaches it, when published (doctor probes it)
    admin: Credential
    writer: Credential  # v1: Telegraf's account; v2: the token
    reader: Credential  # v1: Grafana's account; v2: the token
    tiers: tuple[Tier, ...] = ()

    @property
    def raw(self) -> str:
        """Where readings land as written: the retention policy (v1) or the bucket (v2)."""
        return "autogen" if self.version == 1 else self.database


@dataclass(frozen=True)
class Smtp:
    host: str
    user: str
    password: Secret
    sender: str


@dataclass(frozen=True)
class AlertFacts:
    """Where Grafana sends alerts, and when a sensor counts as silent."""

    webhook: Secret | None
    emails: tuple[str, ...]
    smtp: Smtp | None
    silent_after: int  # intervals
    pending: str  # how long a threshold must hold


@dataclass(frozen=True)
class GrafanaFacts:
    admin: Credential
    port: int
    url_outside: str
    alerts: AlertFacts | None = None


@dataclass(frozen=True)
class DeviceReading:
    """One sensor a board reads: where it publishes, and the exact JSON it sends."""

    sensor: str
    topic: str
    payload_template: str  # the stream's JSON with %s where the value goes, %t the time (Unix ms)
    unit: str
    decimals: int
    low: float  # the range a board's placeholder reading moves in
    high: float
    untimed_template: str  # the same JSON without the time: sent while the board has no trusted clock


@dataclass(frozen=True)
class DeviceFacts:
    """A board's connection, as its firmware carries it."""

    name: str
    stream: str
    endpoint: Endpoint  # TCP or TLS: what an ESP32 speaks
    ca: CaCert | None  # None: plain MQTT
    ca_source: str
    client_id: str
    credential: Credential
    qos: int
    keepalive_s: int
    interval_s: int
    readings: tuple[DeviceReading, ...]
    modem: str
    apn: Secret | None
    board: Board
    wiring: Wiring  # the board's modem pins, with the inventory's overrides
    buffer_size: int  # bytes for the largest MQTT packet the board sends
    timed: bool  # the payload carries the time the reading was measured (%t in its template)


@dataclass(frozen=True)
class Permission:
    """One account's rights on one broker."""

    broker: str
    account: str  # as the inventory writes it: a name, or its ${VAR} reference
    topic_filter: str  # one filter covering every topic below
    topics: tuple[str, ...]  # exactly what it publishes, or the filters it subscribes to
    publish: bool  # else subscribe
    qos: int
    shared: bool = False  # subscribes as $share/<group>/... (several Telegrafs)
    boards: tuple[str, ...] = ()  # the boards using the account
    also_covers: tuple[str, ...] = ()  # other accounts' boards whose topics the filter covers

    where: str = "cloud"  # "hivemq-cloud", "managed" (the stack's Mosquitto) or "cloud" (another)

    def advice(self) -> str:
        """The permission to set, in the broker's own words where polysource knows them."""
        kind = "publish only" if self.publish else "subscribe only"
        if self.where == "managed":
            return (
                f"account `{self.account}`: {kind}, {', '.join(f'`{t}`' for t in self.topics)}: the "
                "stack's Mosquitto enforces it (output/mosquitto/acl)"
            )
        tools = (
            ""
            if self.publish
            else " (Publish and Subscribe instead if you send test readings with polysource publish, "
            "simulate or verify: they log in as this account)"
        )
        if self.where != "hivemq-cloud":
            return (
                f"account `{self.account}`: {kind}, topic filter `{self.topic_filter}`, QoS up to "
                f"{self.qos}, in the broker's access control{tools}"
            )
        # HiveMQ Cloud's console (docs.hivemq.com, "Add a Permission", "Create Access Credentials")
        kind = "Publish Only" if self.publish else "Subscribe Only"
        starter = "Publish on, Subscribe off" if self.publish else "Subscribe on, Publish off"
        levels = ", ".join(str(q) for q in range(self.qos + 1))
        extra = ", Advanced Options: Shared Subscriptions on" if self.shared else ""
        return (
            f"account `{self.account}`: Topic Filter `{self.topic_filter}`, Permission Type {kind} "
            f"(Serverless plan); on the Starter plan a permission with that Topic Filter, {starter}, "
            f"QoS Levels {levels}{extra}, in a role given to the credential{tools}"
        )


@dataclass(frozen=True)
class Account:
    """An account on the managed broker and what its acl_file lets it do, nothing else."""

    user: str
    password: Secret
    write: tuple[str, ...]  # topics (or filters) it may publish to
    read: tuple[str, ...]  # filters it may receive messages on
    role: str  # why: "Telegraf", "boards serre-node, cour", "the inventory's publish/subscribe"


@dataclass(frozen=True)
class Mount:
    """A config folder from output/ (read-only) or a named data volume."""

    target: str
    config: str | None = None  # folder inside output/
    volume: str | None = None
    read_only: bool = True
    live: bool = False  # the service re-reads this config folder itself: update it in place


@dataclass(frozen=True)
class Healthcheck:
    test: tuple[str, ...]
    interval: str = "5s"
    timeout: str = "5s"
    retries: int = 3
    start_period: str = "30s"


@dataclass(frozen=True)
class PublishedPort:
    host: int
    container: int
    address: str = ""  # "" is every interface

    @property
    def compose(self) -> str:
        """Compose's short syntax: [ADDRESS:]HOST:CONTAINER, an IPv6 address in brackets."""
        address = f"[{self.address}]" if ":" in self.address else self.address
        return f"{address}:{self.host}:{self.container}" if address else f"{self.host}:{self.container}"


@dataclass(frozen=True)
class Service:
    name: str
    image: str
    command: tuple[str, ...] = ()
    environment: dict[str, str | Secret] = field(default_factory=dict)
    ports: tuple[PublishedPort, ...] = ()
    mounts: tuple[Mount, ...] = ()
    depends_on: dict[str, str] = field(default_factory=dict)  # service -> compose condition
    healthcheck: Healthcheck | None = None
    mem_limit: str = "128m"
    one_shot: bool = False  # runs to completion before its dependents start
    lifecycle: Lifecycle | None = None  # what it logs at start and clean stop (services.LIFECYCLE)

    @property
    def restart(self) -> str:
        """Docker's restart policy: one-shot services must not be restarted."""
        return "no" if self.one_shot else "unless-stopped"

    log_driver = "json-file"  # Docker's default driver, bounded by log_options

    @property
    def log_options(self) -> dict[str, str]:
        """Docker's json-file driver options: at most three files of 10 MB of this service's log
        on the card. Docker keeps every line by default, and Mosquitto logs each save (a line per
        reading), InfluxDB each write."""
        return {"max-size": "10m", "max-file": "3"}

    @property
    def secrets(self) -> list[Secret]:
        return sorted({v for v in self.environment.values() if isinstance(v, Secret)})

    @property
    def start_first(self) -> bool:
        """Whether a new container may start before the old one stops: nothing they would share
        (a writable data volume, a published port), and not a one-shot job."""
        shares = any(m.volume and not m.read_only for m in self.mounts) or self.ports
        return not shares and not self.one_shot


@dataclass(frozen=True)
class DockerFacts:
    """Where the stack runs: the Docker API deploy talks to (`--host` may override it), the
    platform its images are chosen for, and the swarm's settings when it is one."""

    host: str
    platform: str
    swarm: Swarm | None = None


@dataclass(frozen=True)
class Stack:
    inventory: Inventory
    inventory_dir: Path
    target_host: str  # the Docker host's name, as the laptop reaches its published ports
    brokers: dict[str, BrokerFacts]
    streams: dict[str, StreamFacts]
    series: dict[str, Series]  # by sensor id
    influx: InfluxFacts
    grafana: GrafanaFacts
    services: tuple[Service, ...]
    dialect: "InfluxDialect"  # InfluxDB's query language and its facts, chosen once from the version
    devices: dict[str, DeviceFacts] = field(default_factory=dict)
    inventory_file: str = "polysource.yml"  # its name in inventory_dir
    sensors: dict[str, SensorFacts] = field(default_factory=dict)  # in the inventory's order
    silent_after: int = 3  # intervals without a reading before a sensor counts as silent
    docker: DockerFacts = DockerFacts("unix:///var/run/docker.sock", "linux/arm64")
    telegraf_instances: int = 1  # Telegrafs sharing the subscriptions
    backup: Backup = field(default_factory=Backup)  # `polysource backup`'s folder, count and schedule
    batch: int = 1000  # Telegraf's metric_batch_size: never above a broker's window, or QoS 1 stalls
    permissions: dict[str, Permission] = field(default_factory=dict)  # by board (stack/permissions.py)
    telegraf_permissions: dict[str, Permission] = field(default_factory=dict)  # by broker
    streams_without_identity: tuple[str, ...] = ()  # boards publish there; no topic tells them apart
    broker_accounts: tuple[Account, ...] = ()  # the managed broker's, each with its rights

    @cached_property
    def broker_rate_per_s(self) -> float:
        """Readings per second the inventory announces on the managed broker's streams."""
        broker = self.managed_broker
        on_it = {name for name, s in self.streams.items() if broker and s.broker == broker.name}
        return sum(1 / s.interval_s for s in self.sensors.values() if s.stream in on_it)

    @cached_property
    def broker_save_every(self) -> int:
        """The managed broker's autosave_interval, in changes (stack/durability.py)."""
        from polysource.stack.durability import save_every

        return save_every(self.broker_rate_per_s)

    @cached_property
    def rate_per_s(self) -> float:
        """Readings per second the inventory announces: each sensor at its interval."""
        return sum(1 / sensor.interval_s for sensor in self.sensors.values())

    def sensors_of(self, stream: str) -> list[SensorFacts]:
        return [sensor for sensor in self.sensors.values() if sensor.stream == stream]

    @property
    def inventory_path(self) -> Path:
        return self.inventory_dir / self.inventory_file

    @property
    def name(self) -> str:
        return self.inventory.project

    @property
    def volumes(self) -> list[str]:
        return sorted({m.volume for s in self.services for m in s.mounts if m.volume})

    @property
    def secrets(self) -> list[Secret]:
        """What the user sets (environment or .env); not what polysource makes (made_secrets)."""
        made = set(self.made_secrets)
        return sorted({secret for s in self.services for secret in s.secrets} - made)

    @property
    def made_secrets(self) -> tuple[Secret, ...]:
        """Values polysource makes for deploy (the managed broker's certificate and key)."""
        broker = self.managed_broker
        return broker.tls.made if broker and broker.tls else ()

    @property
    def managed_broker(self) -> BrokerFacts | None:
        return next((b for b in self.brokers.values() if b.managed), None)

    def service(self, name: str) -> Service | None:
        return next((s for s in self.services if s.name == name), None)

    def users_of(self, secret: Secret) -> list[str]:
        return [s.name for s in self.services if secret in s.secrets]
