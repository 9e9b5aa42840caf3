"""doctor against real brokers, and the school firewall simulated on loopback (iptables DROP)."""

import json
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from helpers import run_cli, write_inventory
from services import Certificates, Mosquitto, free_port, require


@pytest.fixture
def dropped_port():
    """A loopback port whose packets are silently dropped, as the school firewall did to 8883."""
    require(shutil.which("iptables") is not None, "iptables")
    port = free_port()
    rule = ["INPUT", "-p", "tcp", "--dport", str(port), "-j", "DROP"]
    subprocess.run(["iptables", "-I", *rule], check=True)
    yield port
    subprocess.run(["iptables", "-D", *rule], check=True)


def inventory(
    tmp_path, certs, port: int, transport="tls", fallback="", password_var="MQTT_PASSWORD", host="localhost"
) -> str:
    shutil.copy(certs.ca, tmp_path / "ca.pem")
    text = f"""\
project: doctor
brokers:
  cloud:
    host: "{host}"
    port: {port}
    transport: {transport}
    username: polysource-pi
    password: ${{{password_var}}}
    ca_file: ca.pem
{fallback}streams:
  capteurs: {{broker: cloud, topic: polysource/capteurs, format: {{value: valeur, sensor: idCapteur}}}}
sensors:
  Test_4G: {{stream: capteurs, unit: m}}
target: {{docker_host: "unix:///nonexistent.sock", platform: linux/amd64}}
grafana: {{port: {free_port()}}}
storage: {{influxdb: {{publish: {free_port()}}}}}
"""
    return str(write_inventory(tmp_path, text))


def doctor(path: str, monkeypatch, password: str, *args: str):
    monkeypatch.setenv("MQTT_PASSWORD", password)
    start = time.monotonic()
    result = run_cli("doctor", "-i", path, *args)
    return result, time.monotonic() - start


def doctor_json(path: str, monkeypatch, password: str = "x"):
    result, _ = doctor(path, monkeypatch, password, "--json")
    assert "Traceback" not in result.output
    return result.exit_code, json.loads(result.output)


def test_working_broker_passes_every_hop(tmp_path, certs, mosquitto, monkeypatch):
    path = inventory(tmp_path, certs, mosquitto.tls_port)
    result, _ = doctor(path, monkeypatch, mosquitto.password)
    assert result.exit_code == 0, result.output
    for hop in ("dns", "tcp", "tls", "mqtt connect", "subscribe polysource/capteurs"):
        assert any(
            line.split("  ")[1:2] and hop in line and " ok " in line for line in result.output.splitlines()
        ), hop
    assert "expires in 1 days" in result.output or "expires in 2 days" in result.output
    assert "warn" in result.output  # InfluxDB and Grafana are not running: optional hops


def test_dropped_port_with_working_fallback(tmp_path, certs, mosquitto, dropped_port, monkeypatch):
    fallback = f"    fallback: {{transport: wss, port: {mosquitto.wss_port}, path: /mqtt}}\n"
    path = inventory(tmp_path, certs, dropped_port, fallback=fallback)
    result, seconds = doctor(path, monkeypatch, mosquitto.password)
    assert result.exit_code == 1
    assert "the packets are silently dropped" in result.output
    assert (
        f"cloud: port {dropped_port} times out while wss://localhost:{mosquitto.wss_port}/mqtt answers: "
        "this network drops that port"
    ) in result.output
    assert seconds < 15


def test_dropped_port_without_fallback_blames_the_network(tmp_path, certs, dropped_port, monkeypatch):
    result, _ = doctor(inventory(tmp_path, certs, dropped_port), monkeypatch, "x")
    assert result.exit_code == 1
    assert f"port {dropped_port} times out while localhost answers on 443" in result.output
    assert "another uplink" in result.output


def test_refused_port(tmp_path, certs, monkeypatch):
    port = free_port()
    result, _ = doctor(inventory(tmp_path, certs, port), monkeypatch, "x")
    assert result.exit_code == 1
    assert f"nothing listens on localhost:{port} (connection refused)" in result.output


def test_wrong_password(tmp_path, certs, mosquitto, monkeypatch):
    result, _ = doctor(inventory(tmp_path, certs, mosquitto.tls_port), monkeypatch, "wrong-password")
    assert result.exit_code == 1
    assert "CONNACK refused" in result.output
    assert "cloud: the broker refused the credentials" in result.output


@pytest.mark.parametrize(
    ("broker_kwargs", "expected"),
    [
        ({"hostname": "other.example"}, "cloud: the certificate does not name localhost"),
        ({"expired": True}, "cloud: the broker's certificate has expired"),
    ],
    ids=["other-hostname", "expired"],
)
def test_bad_certificates(tmp_path_factory, tmp_path, certs, monkeypatch, broker_kwargs, expected):
    broker = Mosquitto(tmp_path_factory.mktemp("bad-cert"), certs, **broker_kwargs).start()
    try:
        result, _ = doctor(inventory(tmp_path, certs, broker.tls_port), monkeypatch, broker.password)
    finally:
        broker.stop()
    assert result.exit_code == 1
    assert expected in result.output


def test_json_report(tmp_path, certs, mosquitto, monkeypatch):
    result, _ = doctor(inventory(tmp_path, certs, free_port()), monkeypatch, "x", "--json")
    report = json.loads(result.output)
    assert report["ok"] is False
    (endpoint,) = report["endpoints"]
    assert endpoint["failure"] == "refused"
    assert [c["hop"] for c in endpoint["checks"]] == ["dns", "tcp"]
    assert report["diagnosis"][0].startswith("cloud: nothing listens")


def test_unknown_broker_is_an_error(tmp_path, certs, monkeypatch):
    result, _ = doctor(inventory(tmp_path, certs, free_port()), monkeypatch, "x", "hivmq")
    assert result.exit_code == 1
    assert "unknown broker(s) hivmq (known: cloud)" in result.stderr


def test_doctor_dns_failure(tmp_path, certs, monkeypatch):
    code, report = doctor_json(inventory(tmp_path, certs, 8883, host="polysource-test.invalid"), monkeypatch)
    assert code == 1
    assert report["endpoints"][0]["failure"] == "dns"
    assert report["diagnosis"][0].startswith("cloud: polysource-test.invalid does not resolve")


@pytest.fixture
def unreachable_port():
    """Connections answered by ICMP host-unreachable: `no route to host`, as an offline network."""
    require(shutil.which("iptables") is not None, "iptables")
    port = free_port()
    rule = [
        "INPUT",
        "-p",
        "tcp",
        "--dport",
        str(port),
        "-j",
        "REJECT",
        "--reject-with",
        "icmp-host-unreachable",
    ]
    subprocess.run(["iptables", "-I", *rule], check=True)
    yield port
    subprocess.run(["iptables", "-D", *rule], check=True)


def test_doctor_no_route(tmp_path, certs, monkeypatch, unreachable_port):
    code, report = doctor_json(inventory(tmp_path, certs, unreachable_port), monkeypatch)
    assert code == 1
    assert report["endpoints"][0]["failure"] == "unreachable"
    assert report["diagnosis"][0] == "cloud: no route to localhost: check this machine's network connection"


def test_doctor_untrusted_certificate(tmp_path_factory, tmp_path, certs, monkeypatch):
    other = Certificates(tmp_path_factory.mktemp("other-ca"))
    other.make_ca()
    broker = Mosquitto(tmp_path_factory.mktemp("untrusted"), certs, server_ca=other).start()
    try:
        code, report = doctor_json(inventory(tmp_path, certs, broker.tls_port), monkeypatch)
    finally:
        broker.stop()
    assert code == 1
    assert report["endpoints"][0]["failure"] == "tls-untrusted"
    assert "the broker's certificate is not trusted: set ca_file to its CA" in report["diagnosis"][0]


class RefusingBroker:
    """A minimal MQTT 3.1.1 peer over TLS that accepts the login and refuses every subscription
    (SUBACK 0x80), as HiveMQ Cloud does for a topic the account may not read. Mosquitto cannot
    play this part: its ACL file does not check subscriptions (src/security_default.c, "FIXME")."""

    def __init__(self, certs):
        import socket
        import ssl
        import threading

        cert, key = certs.server("refusing", "localhost")
        self.context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.context.load_cert_chain(cert, key)
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        import threading

        while True:
            try:
                raw, _ = self.server.accept()
            except OSError:
                return
            threading.Thread(target=self._client, args=(raw,), daemon=True).start()

    def _client(self, raw) -> None:
        try:
            with self.context.wrap_socket(raw, server_side=True) as tls:
                while packet := self._read(tls):
                    kind, body = packet
                    if kind == 0x10:
                        tls.sendall(b"\x20\x02\x00\x00")  # CONNACK: accepted
                    elif kind == 0x82:
                        tls.sendall(b"\x90\x03" + body[:2] + b"\x80")  # SUBACK: failure
                    elif kind == 0xA2:
                        tls.sendall(b"\xb0\x02" + body[:2])
                    elif kind == 0xC0:
                        tls.sendall(b"\xd0\x00")
                    elif kind == 0xE0:
                        return
        except OSError:
            return

    @staticmethod
    def _read(tls):
        first = tls.recv(1)
        if not first:
            return None
        length, shift = 0, 0
        while True:
            byte = tls.recv(1)[0]
            length |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                break
        body = b""
        while len(body) < length:
            chunk = tls.recv(length - len(body))
            if not chunk:
                return None
            body += chunk
        return first[0], body

    def stop(self) -> None:
        self.server.close()


def test_doctor_refused_subscription(tmp_path, certs, monkeypatch):
    broker = RefusingBroker(certs)
    try:
        code, report = doctor_json(inventory(tmp_path, certs, broker.port), monkeypatch)
    finally:
        broker.stop()
    assert code == 1
    hops = {c["hop"]: c for c in report["endpoints"][0]["checks"]}
    assert hops["mqtt connect"]["ok"] is True
    assert hops["subscribe polysource/capteurs"]["ok"] is False
    assert "a subscription was refused: check the account's ACL" in report["diagnosis"][0]


def test_doctor_device_on_a_dropped_port_gives_advice_that_fits_the_board(
    tmp_path, certs, mosquitto, dropped_port, monkeypatch
):
    """A board speaks MQTT over TCP/TLS only: the wss fallback Telegraf uses does not help it, and a
    GSM board's path is the mobile operator's, not this network's."""
    fallback = f"    fallback: {{transport: wss, port: {mosquitto.wss_port}, path: /mqtt}}\n"
    path = Path(inventory(tmp_path, certs, dropped_port, fallback=fallback))
    board = (
        "devices:\n  salle1:\n    stream: capteurs\n    sensors: [Test_4G]\n    username: board\n"
        "    password: ${BOARD_PASSWORD}\n    board: lilygo-t-sim7600\n"
    )
    path.write_text(path.read_text() + board)
    monkeypatch.setenv("BOARD_PASSWORD", "x")
    result = run_cli("doctor", "--device", "salle1", "-i", str(path))
    assert result.exit_code == 1, result.output
    assert (
        f"salle1: port {dropped_port} times out from this network; the board has no websocket fallback"
        in (result.output)
    )
    assert "wss" not in result.output.split("salle1:", 1)[1].split("\n")[0]
    assert "leaves through the mobile operator" in result.output
    assert "permission: board salle1's account `board`: publish only, topic filter `polysource/capteurs`" in (
        result.output
    )
