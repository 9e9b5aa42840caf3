"""MQTT clients for the broker endpoints the inventory declares (paho-mqtt).

paho is the reference Python client, speaks TLS with SNI and websockets, and reports CONNACK
reasons as words: what doctor, publish, simulate and verify need.
"""

import ssl
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from polysource.errors import PolysourceError
from polysource.inventory.model import Broker, Inventory, Transport
from polysource.stack import Secret
from polysource.targets import broker_host


@dataclass(frozen=True)
class Endpoint:
    """One way into a broker: the main one or a fallback."""

    broker: str
    host: str
    port: int
    transport: Transport
    path: str | None
    ca_file: Path | None

    @property
    def url(self) -> str:
        suffix = (self.path or "/mqtt") if self.transport.websocket else ""
        return f"{self.transport.scheme}://{self.host}:{self.port}{suffix}"


def endpoints(inventory: Inventory, inventory_dir: Path, name: str) -> list[Endpoint]:
    broker = inventory.brokers[name]
    host = broker_host(inventory, broker)
    ca = inventory_dir / broker.ca_file if broker.ca_file else None
    found = [Endpoint(name, host, broker.effective_port, broker.transport, broker.path, ca)]
    found += [Endpoint(name, host, e.effective_port, e.transport, e.path, ca) for e in broker.fallbacks]
    return found


def credentials(broker: Broker, secrets: dict[str, str]) -> tuple[str | None, str | None]:
    username = broker.username
    if username and username.startswith("${"):
        username = secrets.get(Secret.of(username).var)
    password = secrets.get(Secret.of(broker.password).var) if broker.password else None
    return username, password


def broker_secrets(broker: Broker) -> list[str]:
    refs = [broker.password or "", broker.username or ""]
    return [Secret.of(r).var for r in refs if r.startswith("${")]


class Session:
    """A connected paho client; CONNACK and acknowledgements surfaced as return values."""

    def __init__(self, endpoint: Endpoint, username: str | None, password: str | None, timeout: float = 5):
        import paho.mqtt.client as mqtt

        self.endpoint = endpoint
        self.timeout = timeout
        self.connected = threading.Event()
        self.reason: Any = None
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=f"polysource-cli-{uuid.uuid4().hex[:8]}",
            transport="websockets" if endpoint.transport.websocket else "tcp",
        )
        if endpoint.transport.websocket:
            self.client.ws_set_options(path=endpoint.path or "/mqtt")
        if endpoint.transport.encrypted:
            context = ssl.create_default_context(cafile=str(endpoint.ca_file) if endpoint.ca_file else None)
            self.client.tls_set_context(context)
        if username:
            self.client.username_pw_set(username, password)
        self.client.on_connect = self._on_connect

    def _on_connect(self, client: Any, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        self.reason = reason
        self.connected.set()

    def connect(self) -> Any:
        """The CONNACK reason code (0 = accepted); raises OSError/ssl errors on the way there."""
        self.client.connect(self.endpoint.host, self.endpoint.port, keepalive=30)
        self.client.loop_start()
        if not self.connected.wait(self.timeout):
            self.close()
            raise TimeoutError(f"no CONNACK within {self.timeout:.0f}s")
        return self.reason

    def publish(self, topic: str, payload: str, qos: int = 1) -> None:
        info = self.client.publish(topic, payload, qos=qos)
        info.wait_for_publish(self.timeout)
        if not info.is_published():
            raise PolysourceError(
                f"{self.endpoint.url}: no acknowledgement for {topic} within {self.timeout:.0f}s"
            )

    def subscribe(self, topic: str, qos: int = 1) -> list[Any]:
        """The SUBACK's granted reason codes."""
        granted: list[Any] = []
        done = threading.Event()

        def on_subscribe(client: Any, userdata: Any, mid: int, codes: list[Any], props: Any) -> None:
            granted.extend(codes)
            done.set()

        self.client.on_subscribe = on_subscribe
        self.client.subscribe(topic, qos=qos)
        if not done.wait(self.timeout):
            raise TimeoutError(f"no SUBACK within {self.timeout:.0f}s")
        self.client.unsubscribe(topic)
        return granted

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def open_session(inventory: Inventory, inventory_dir: Path, name: str, secrets: dict[str, str]) -> Session:
    """Connected to the first endpoint that accepts us, main one first, as Telegraf does."""
    broker = inventory.brokers[name]
    username, password = credentials(broker, secrets)
    errors = []
    for endpoint in endpoints(inventory, inventory_dir, name):
        session = Session(endpoint, username, password)
        try:
            reason = session.connect()
        except (OSError, ssl.SSLError, TimeoutError) as error:
            errors.append(f"{endpoint.url}: {error}")
            continue
        if not reason.is_failure:
            return session
        session.close()
        errors.append(f"{endpoint.url}: refused: {reason}")
    raise PolysourceError(
        f"cannot connect to broker {name!r}: " + "; ".join(errors) + " (try `polysource doctor`)"
    )
