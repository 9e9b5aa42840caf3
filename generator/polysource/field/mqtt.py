"""MQTT sessions with the brokers the stack model describes (paho-mqtt).

paho is the reference Python client, speaks TLS with SNI and websockets, and reports CONNACK
reasons as words. Its exceptions (socket, TLS, ValueError for a bad topic) are translated here
into BrokerError, so the commands above see one kind of failure.
"""

import ssl
import threading
import uuid
from typing import Any

from polysource.errors import BrokerError
from polysource.secrets import SecretValues
from polysource.stack import Stack
from polysource.stack.model import CaCert, Credential, Endpoint

TIMEOUT = 5.0


def tls_context(ca: CaCert | None, tls12_only: bool = False) -> ssl.SSLContext:
    """Verification on, with the broker's pinned CA when the inventory names one; TLS 1.2 only
    to make a board's handshake."""
    context = ssl.create_default_context(cadata=b"".join(ca.ders) if ca else None)
    if tls12_only:
        context.minimum_version = context.maximum_version = ssl.TLSVersion.TLSv1_2
    return context


class Session:
    """A connected paho client; CONNACK and acknowledgements surfaced as return values."""

    def __init__(
        self,
        endpoint: Endpoint,
        ca: CaCert | None,
        username: str | None,
        password: str | None,
        timeout: float = TIMEOUT,
        tls12_only: bool = False,
        client_id: str | None = None,
    ):
        import paho.mqtt.client as mqtt
        from paho.mqtt.enums import CallbackAPIVersion

        self.endpoint = endpoint
        self.timeout = timeout
        self.connected = threading.Event()
        self.reason: Any = None
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id or f"polysource-cli-{uuid.uuid4().hex[:8]}",
            transport="websockets" if endpoint.transport.websocket else "tcp",
        )
        if endpoint.transport.websocket:
            self.client.ws_set_options(path=endpoint.path or "/mqtt")
        if endpoint.transport.encrypted:
            self.client.tls_set_context(tls_context(ca, tls12_only))
        if username:
            self.client.username_pw_set(username, password)
        self.client.on_connect = self._on_connect

    def _on_connect(self, client: Any, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        self.reason = reason
        self.connected.set()

    def connect(self) -> Any:
        """The CONNACK reason code (its .is_failure tells a refusal); BrokerError when no answer."""
        try:
            self.client.connect(self.endpoint.host, self.endpoint.port, keepalive=30)
        except (OSError, ssl.SSLError, ValueError) as error:
            raise BrokerError(f"{self.endpoint.url}: {error}") from None
        self.client.loop_start()
        if not self.connected.wait(self.timeout):
            self.close()
            raise BrokerError(f"{self.endpoint.url}: no CONNACK within {self.timeout:.0f}s")
        return self.reason

    def publish(self, topic: str, payload: str, qos: int = 1) -> None:
        try:
            info = self.client.publish(topic, payload, qos=qos)
            info.wait_for_publish(self.timeout)
        except (ValueError, RuntimeError) as error:
            raise BrokerError(f"{self.endpoint.url}: cannot publish to {topic!r}: {error}") from None
        if not info.is_published():
            raise BrokerError(
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
        try:
            self.client.subscribe(topic, qos=qos)
        except ValueError as error:
            raise BrokerError(f"{self.endpoint.url}: cannot subscribe to {topic!r}: {error}") from None
        if not done.wait(self.timeout):
            raise BrokerError(f"{self.endpoint.url}: no SUBACK within {self.timeout:.0f}s")
        self.client.unsubscribe(topic)
        return granted

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def open_session(
    stack: Stack, broker_name: str, values: SecretValues, credential: Credential | None = None
) -> Session:
    """Connected to the first endpoint that accepts us, main one first, as Telegraf does; as
    `credential`, or the broker's own account (Telegraf's)."""
    broker = stack.brokers[broker_name]
    credential = credential or broker.credential
    username = values.text(credential.user) if credential else None
    password = values.text(credential.password) if credential else None
    errors = []
    for endpoint in broker.endpoints:
        session = Session(endpoint, broker.ca, username, password)
        try:
            reason = session.connect()
        except BrokerError as error:
            errors.append(str(error))
            continue
        if not reason.is_failure:
            return session
        session.close()
        errors.append(f"{endpoint.url}: refused: {reason}")
    raise BrokerError(
        f"cannot connect to broker {broker_name!r}: " + "; ".join(errors) + " (try `polysource doctor`)"
    )
