"""doctor: every broker endpoint checked hop by hop, and a sentence a student can act on.

Hops, in order, each with a short timeout: DNS, TCP (refused = nothing listens; timed out =
something drops the packets, usually a firewall; unreachable = no route), TLS (chain, host name,
days to expiry), MQTT CONNECT with the inventory's credentials, SUBSCRIBE to each stream's topic.
A reference TCP probe to port 443 of the same host tells a network that drops one port from a
host that is down. InfluxDB and Grafana on the target are checked too, as optional hops.
"""

import errno
import socket
import ssl
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from polysource import secrets
from polysource.errors import BrokerError, PolysourceError
from polysource.field.mqtt import Session, tls_context
from polysource.stack import Stack
from polysource.stack.model import BrokerFacts, CaCert, DeviceFacts, Endpoint

TIMEOUT = 3.0
REFERENCE_PORT = 443


@dataclass
class Check:
    target: str  # broker endpoint URL or service
    hop: str
    ok: bool
    detail: str
    required: bool = True
    seconds: float = 0.0


@dataclass
class EndpointReport:
    broker: str
    url: str
    host: str
    port: int
    checks: list[Check] = field(default_factory=list)
    failure: str = ""  # dns | refused | dropped | unreachable | tls-untrusted | tls-hostname | ...

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks if c.required)


def _timed(report: EndpointReport, hop: str, started: float, ok: bool, detail: str) -> bool:
    report.checks.append(Check(report.url, hop, ok, detail, seconds=time.monotonic() - started))
    return ok


def tcp_probe(host: str, port: int, timeout: float = TIMEOUT) -> str:
    """'open', 'refused', 'dropped' (timed out) or 'unreachable'."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return "open"
    except ConnectionRefusedError:
        return "refused"
    except TimeoutError:
        return "dropped"
    except OSError as error:  # ENETUNREACH, EHOSTUNREACH (an ICMP answer), ...
        return "refused" if error.errno == errno.ECONNREFUSED else "unreachable"


def _resolve(host: str, port: int) -> list[str]:
    with ThreadPoolExecutor(1) as pool:  # getaddrinfo has no timeout of its own
        infos = pool.submit(socket.getaddrinfo, host, port, type=socket.SOCK_STREAM).result(TIMEOUT)
    return sorted({str(info[4][0]) for info in infos})


@dataclass(frozen=True)
class Probe:
    """What to try past TCP: Telegraf's subscriptions, or a board's own handshake and topics."""

    ca: CaCert | None
    login: tuple[str | None, str | None] | str  # (user, password), or why the MQTT hops cannot run
    subscribe: tuple[str, ...] = ()
    publish: tuple[str, ...] = ()  # an empty message each: Telegraf stores nothing from it
    tls12_only: bool = False
    client_id: str | None = None


def _tls(endpoint: Endpoint, probe: Probe) -> tuple[bool, str, str]:
    """(ok, detail, failure kind) of a TLS handshake with SNI and verification."""
    context = tls_context(probe.ca, probe.tls12_only)
    try:
        with (
            socket.create_connection((endpoint.host, endpoint.port), timeout=TIMEOUT) as raw,
            context.wrap_socket(raw, server_hostname=endpoint.host) as tls,
        ):
            cert = tls.getpeercert() or {}
    except ssl.SSLCertVerificationError as error:
        code = error.verify_code
        if code == 10:
            return False, f"certificate expired ({error.verify_message})", "tls-expired"
        if code == 62:
            return False, f"certificate is not for {endpoint.host}: {error.verify_message}", "tls-hostname"
        return False, f"certificate not trusted: {error.verify_message}", "tls-untrusted"
    except (ssl.SSLError, OSError) as error:
        if "UNRECOGNIZED_NAME" in str(error):
            return False, f"the broker does not know the name {endpoint.host} (SNI): {error}", "tls-sni"
        return False, f"handshake failed: {error}", "tls-handshake"
    expires = datetime.strptime(str(cert["notAfter"]), "%b %d %H:%M:%S %Y %Z").replace(tzinfo=UTC)
    days = (expires - datetime.now(UTC)).days
    version = " over TLS 1.2" if probe.tls12_only else ""
    return True, f"trusted, for {endpoint.host}, expires in {days} days{version}", ""


def check_endpoint(endpoint: Endpoint, probe: Probe) -> EndpointReport:
    """Every hop of one endpoint, as far as it goes."""
    report = EndpointReport(endpoint.broker, endpoint.url, endpoint.host, endpoint.port)
    started = time.monotonic()
    try:
        addresses = _resolve(endpoint.host, endpoint.port)
    except (OSError, TimeoutError) as error:
        report.failure = "dns"
        _timed(report, "dns", started, False, f"{endpoint.host} does not resolve: {error}")
        return report
    _timed(report, "dns", started, True, ", ".join(addresses))

    started = time.monotonic()
    state = tcp_probe(endpoint.host, endpoint.port)
    words = {
        "open": "connected",
        "refused": "refused: nothing listens on that port",
        "dropped": f"timed out after {TIMEOUT:.0f}s: the packets are silently dropped",
        "unreachable": "no route to the host",
    }
    if not _timed(report, "tcp", started, state == "open", words[state]):
        report.failure = state
        return report

    if endpoint.transport.encrypted:
        started = time.monotonic()
        ok, detail, failure = _tls(endpoint, probe)
        if not _timed(report, "tls", started, ok, detail):
            report.failure = failure
            return report

    started = time.monotonic()
    if isinstance(probe.login, str):
        report.failure = "secrets"
        _timed(report, "mqtt connect", started, False, probe.login)
        return report
    username, password = probe.login
    session = Session(endpoint, probe.ca, username, password, TIMEOUT, probe.tls12_only, probe.client_id)
    try:
        reason = session.connect()
    except BrokerError as error:
        report.failure = "mqtt"
        _timed(report, "mqtt connect", started, False, f"no MQTT answer: {error}")
        return report
    try:
        if reason.is_failure:
            report.failure = "auth" if reason.value in (0x04, 0x05, 0x86, 0x87) else "mqtt"
            _timed(report, "mqtt connect", started, False, f"CONNACK refused: {reason}")
            return report
        _timed(report, "mqtt connect", started, True, f"accepted as {username or 'anonymous'}")
        for topic in probe.subscribe:
            started = time.monotonic()
            granted = session.subscribe(topic)
            ok = bool(granted) and not any(g.is_failure for g in granted)
            _timed(report, f"subscribe {topic}", started, ok, "granted" if ok else f"refused: {granted}")
            if not ok:
                report.failure = "subscribe"
        for topic in probe.publish:
            started = time.monotonic()
            session.publish(topic, "", qos=1)
            _timed(report, f"publish {topic}", started, True, "acknowledged (an empty message)")
    except BrokerError as error:
        report.failure = "publish" if probe.publish else "mqtt"
        _timed(report, "publish" if probe.publish else "subscribe", started, False, str(error))
    finally:
        session.close()
    return report


ADVICE = {
    "refused": "nothing listens on {host}:{port} (connection refused): check the port and transport "
    "in the inventory, and that the broker runs",
    "unreachable": "no route to {host}: check this machine's network connection",
    "dns": "{host} does not resolve: check the host name, or this network's DNS",
    "tls-untrusted": "the broker's certificate is not trusted: set ca_file to its CA "
    "(HiveMQ Cloud: ISRG Root X1), or update the system's CA certificates",
    "tls-hostname": "the certificate does not name {host}: use the host name the broker's certificate "
    "is for (not an IP address: HiveMQ Cloud needs it for SNI)",
    "tls-expired": "the broker's certificate has expired: the broker must renew it",
    "tls-sni": "the broker does not serve the name {host} (it reads it from SNI): use its exact host name",
    "auth": "the broker refused the credentials: check username and the password's value in the .env "
    "beside the inventory (HiveMQ Cloud: Access Management)",
    "subscribe": "connected, but a subscription was refused: check the account's ACL",
    "secrets": "the network path works up to MQTT; set the broker's secrets to check the login",
    "publish": "connected, but the broker dropped the board's message: check the account may publish there",
}
"""What to do, per failure kind (all but a dropped port, whose advice depends on the fallbacks)."""


def verdict(reports: list[EndpointReport], reference: dict[str, str]) -> list[str]:
    """One sentence per broken broker, naming the hop and what to do."""
    sentences = []
    for broker in sorted({r.broker for r in reports}):
        mine = [r for r in reports if r.broker == broker]
        main, fallbacks = mine[0], mine[1:]
        working = next((r for r in fallbacks if r.ok), None)
        if main.ok:
            continue
        host, port = main.host, main.port
        if main.failure == "dropped":
            ref = reference.get(host, "")
            if working:
                sentence = (
                    f"{broker}: port {port} times out while {working.url} answers: this network drops "
                    f"that port; Telegraf already falls back to {working.url}, or use another uplink"
                )
            elif ref in ("open", "refused"):
                sentence = (
                    f"{broker}: port {port} times out while {host} answers on {REFERENCE_PORT}: this "
                    "network (a firewall) drops the port; add a wss fallback on 443/8884 or use another "
                    "uplink, e.g. a 4G hotspot"
                )
            else:
                sentence = (
                    f"{broker}: {host} does not answer at all (port {port} and {REFERENCE_PORT} time out): "
                    "the host is down, or this network blocks it; try another uplink"
                )
        else:
            sentence = f"{broker}: {_failure_words(main)}"
        if working and main.failure != "dropped":
            sentence += f" (the fallback {working.url} works)"
        sentences.append(sentence)
    return sentences


def check_http(name: str, url: str, expect: int) -> Check:
    started = time.monotonic()
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT) as response:
            ok, detail = response.status == expect, f"HTTP {response.status}"
    except OSError as error:
        ok, detail = False, f"unreachable: {getattr(error, 'reason', error)}"
    return Check(name, "http", ok, f"{url}: {detail}", required=False, seconds=time.monotonic() - started)


@dataclass
class Diagnosis:
    reports: list[EndpointReport]
    services: list[Check]
    sentences: list[str]
    permissions: list[str] = field(default_factory=list)  # what each account should be allowed
    notes: list[str] = field(default_factory=list)  # what works but is unsafe (insecure_lan)

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.reports)

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "endpoints": [asdict(r) | {"ok": r.ok} for r in self.reports],
            "services": [asdict(c) for c in self.services],
            "diagnosis": self.sentences,
            "permissions": self.permissions,
            "notes": self.notes,
        }


def _login(stack: Stack, name: str, values: secrets.SecretValues) -> tuple[str | None, str | None] | str:
    """The broker's (user, password), or a sentence naming the secrets still to set."""
    credential = stack.brokers[name].credential
    if credential is None:
        return None, None
    missing = [s.var for s in credential.secrets if s not in values]
    if missing:
        return f"skipped: set {', '.join(missing)} (environment or .env) to check the login"
    return values.text(credential.user), values[credential.password]


def diagnose(stack: Stack, brokers: list[str]) -> Diagnosis:
    """All endpoints in parallel, so the whole run stays within a few timeouts.

    DNS, TCP and TLS need no secret: a missing one only skips the MQTT hops.
    """
    unknown = [b for b in brokers if b not in stack.brokers]
    if unknown:
        known = ", ".join(sorted(stack.brokers))
        raise PolysourceError(f"unknown broker(s) {', '.join(unknown)} (known: {known})")
    names = brokers or sorted(stack.brokers)
    wanted = [s for n in names if (c := stack.brokers[n].credential) for s in c.secrets]
    values = secrets.resolve(wanted, stack.inventory_dir, missing_ok=True)
    jobs = []
    for name in names:
        broker = stack.brokers[name]
        topics = [s.subscription for s in stack.streams.values() if s.broker == name]
        probe = Probe(broker.ca, _login(stack, name, values), tuple(topics))
        jobs += [(e, probe) for e in broker.endpoints]
    diagnosis = _run(stack, jobs)
    diagnosis.notes = [note for name in names if (note := _insecure(stack.brokers[name]))]
    diagnosis.permissions = [
        f"broker {name}, Telegraf's {stack.telegraf_permissions[name].advice()}"
        for name in names
        if name in stack.telegraf_permissions
    ]
    return diagnosis


def _insecure(broker: BrokerFacts) -> str:
    """What doctor says of a managed broker without TLS (insecure_lan: true); "" otherwise."""
    if not broker.managed or broker.tls is not None:
        return ""
    endpoint = broker.endpoints[0]
    return (
        f"broker {broker.name} listens with plain MQTT on {endpoint.port} (insecure_lan: true): every "
        "password and reading crosses the LAN in clear; remove insecure_lan for TLS with the stack's CA"
    )


def diagnose_device(stack: Stack, board: str) -> Diagnosis:
    """The board's own handshake from the laptop: its endpoint, TLS 1.2 only, its server name, the
    CA its firmware carries, its account and client id, and a message to each of its topics."""
    if board not in stack.devices:
        known = ", ".join(sorted(stack.devices)) or "none: add one under `devices:`"
        raise PolysourceError(f"unknown board {board!r} (known: {known})")
    device = stack.devices[board]
    credential = device.credential
    values = secrets.resolve(credential.secrets, stack.inventory_dir, missing_ok=True)
    missing = [s.var for s in credential.secrets if s not in values]
    login: tuple[str | None, str | None] | str = (
        f"skipped: set {', '.join(missing)} (environment or .env) to check the board's login"
        if missing
        else (values.text(credential.user), values[credential.password])
    )
    topics = tuple(dict.fromkeys(r.topic for r in device.readings))
    probe = Probe(device.ca, login, publish=topics, tls12_only=True, client_id=f"{device.client_id}-doctor")
    diagnosis = _run(stack, [(device.endpoint, probe)], services=False)
    diagnosis.sentences = [_board_sentence(device, r) for r in diagnosis.reports if not r.ok]
    diagnosis.permissions = [f"board {board}'s {stack.permissions[board].advice()}"]
    diagnosis.notes = [note] if (note := _insecure(stack.brokers[device.endpoint.broker])) else []
    if device.modem != "wifi":
        diagnosis.sentences.append(
            f"{board}: this checked the broker from this computer's network; the board's {device.modem} "
            "traffic leaves through the mobile operator instead (a school firewall is not on its path, "
            "the operator's APN may be): run this from a phone's hotspot on the board's operator "
            "to check that path"
        )
    return diagnosis


def _board_sentence(device: DeviceFacts, report: EndpointReport) -> str:
    """The verdict for a board: it speaks MQTT over TCP or TLS only, so no websocket fallback helps it."""
    name = device.name
    if report.failure == "dropped":
        return (
            f"{name}: port {report.port} times out from this network; the board has no websocket fallback "
            "(MQTT over TCP/TLS only), so the broker must answer on this port on the board's own path"
        )
    return f"{name}: {_failure_words(report)}"


def _failure_words(report: EndpointReport) -> str:
    """What failed at an endpoint and what to do: the advice for its kind, or the failed hop."""
    if report.failure in ADVICE:
        return ADVICE[report.failure].format(host=report.host, port=report.port)
    failed = next(c for c in report.checks if not c.ok)
    return f"{failed.hop} failed: {failed.detail}"


def _run(stack: Stack, jobs: list[tuple[Endpoint, Probe]], services: bool = True) -> Diagnosis:
    hosts = sorted({e.host for e, *_ in jobs})
    influx = stack.influx
    with ThreadPoolExecutor(max(4, len(jobs) + len(hosts) + 2)) as pool:
        futures = [pool.submit(check_endpoint, *job) for job in jobs]
        refs = {h: pool.submit(tcp_probe, h, REFERENCE_PORT) for h in hosts}
        checked = []
        if services and influx.url_outside:  # unpublished, it is reached through the Docker API only
            path, answer = stack.dialect.health
            checked.append(pool.submit(check_http, "influxdb", f"{influx.url_outside}{path}", answer))
        if services:
            checked.append(pool.submit(check_http, "grafana", f"{stack.grafana.url_outside}/api/health", 200))
        reports = [f.result() for f in futures]
        reference = {h: f.result() for h, f in refs.items()}
        checks = [f.result() for f in checked]
    return Diagnosis(reports, checks, verdict(reports, reference))
