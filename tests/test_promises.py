"""README promises no test held before, with the real components: doctor's other verdicts,
InfluxDB 2 at run time (Telegraf's influxdb_v2 output, verify's Flux path), and the dashboards'
own queries run against real InfluxDB 1.8 and 2.7."""

import json
import shutil
import subprocess
import time

import pytest

from helpers import run_cli, write_inventory
from services import Certificates, Mosquitto, free_port, require, wait_for

SEED_READING = {"valeur": 99.9, "idCapteur": "Test_4G", "unite": "m"}


def doctor_inventory(tmp_path, certs, host: str, port: int) -> str:
    shutil.copy(certs.ca, tmp_path / "ca.pem")
    return f"""\
project: doctor
brokers:
  cloud:
    {{host: "{host}", port: {port}, username: polysource-pi, password: "${{MQTT_PASSWORD}}", ca_file: ca.pem}}
streams:
  capteurs: {{broker: cloud, topic: polysource/capteurs, format: {{value: valeur, sensor: idCapteur}}}}
sensors:
  Test_4G: {{stream: capteurs, unit: m}}
target: {{docker_host: "unix:///nonexistent.sock", platform: linux/amd64}}
grafana: {{port: {free_port()}}}
storage: {{influxdb: {{port: {free_port()}}}}}
"""


def doctor(tmp_path, monkeypatch, text: str, password: str = "x"):
    monkeypatch.setenv("MQTT_PASSWORD", password)
    path = write_inventory(tmp_path, text)
    result = run_cli("doctor", "-i", str(path), "--json")
    assert "Traceback" not in result.output
    return result.exit_code, json.loads(result.output)


def test_doctor_dns_failure(tmp_path, certs, monkeypatch):
    code, report = doctor(
        tmp_path, monkeypatch, doctor_inventory(tmp_path, certs, "polysource-test.invalid", 8883)
    )
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
    code, report = doctor(
        tmp_path, monkeypatch, doctor_inventory(tmp_path, certs, "localhost", unreachable_port)
    )
    assert code == 1
    assert report["endpoints"][0]["failure"] == "unreachable"
    assert report["diagnosis"][0] == "cloud: no route to localhost: check this machine's network connection"


def test_doctor_untrusted_certificate(tmp_path_factory, tmp_path, certs, monkeypatch):
    other = Certificates(tmp_path_factory.mktemp("other-ca"))
    other.make_ca()
    broker = Mosquitto(tmp_path_factory.mktemp("untrusted"), certs, server_ca=other).start()
    try:
        code, report = doctor(
            tmp_path, monkeypatch, doctor_inventory(tmp_path, certs, "localhost", broker.tls_port)
        )
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
        code, report = doctor(
            tmp_path, monkeypatch, doctor_inventory(tmp_path, certs, "localhost", broker.port)
        )
    finally:
        broker.stop()
    assert code == 1
    hops = {c["hop"]: c for c in report["endpoints"][0]["checks"]}
    assert hops["mqtt connect"]["ok"] is True
    assert hops["subscribe polysource/capteurs"]["ok"] is False
    assert "a subscription was refused: check the account's ACL" in report["diagnosis"][0]


def test_influxdb2_end_to_end_and_verify_through_flux(make_pipeline, mosquitto, influxdb2):
    telegraf = make_pipeline(influx=influxdb2).start()
    client = mosquitto.client()
    client.publish("polysource/capteurs", json.dumps(SEED_READING), qos=1)
    client.close()
    wait_for(lambda: influxdb2.points("capteurs"), 30, "the seed reading in InfluxDB 2")
    (point,) = [p for p in influxdb2.points("capteurs") if p["_field"] == "valeur"]
    assert (float(point["_value"]), point["idCapteur"], point["unite"]) == (99.9, "Test_4G", "m")
    result = run_cli(
        "verify", "Test_4G", "-i", str(telegraf.output.parent / "inventory.yml"), "--timeout", "20"
    )
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[-1].split()[:2] == ["ok", "stored"]


def grafana_macros(query: str) -> str:
    """What Grafana substitutes before sending a panel's query (last hour, 10 s windows)."""
    return (
        query.replace("$timeFilter", "time > now() - 1h")
        .replace("$__interval", "10s")
        .replace("v.timeRangeStart", "-1h")
        .replace("v.timeRangeStop", "now()")
        .replace("v.windowPeriod", "10s")
    )


def panel_query(output, title: str) -> str:
    board = json.loads(next((output / "grafana/dashboards").glob("*.json")).read_text())
    return next(p for p in board["panels"] if p.get("title") == title)["targets"][0]["query"]


def test_dashboard_queries_return_the_reading_from_influxdb_1(make_pipeline, mosquitto, influxdb):
    telegraf = make_pipeline().start()
    client = mosquitto.client()
    client.publish("polysource/capteurs", json.dumps(SEED_READING), qos=1)
    client.close()
    wait_for(lambda: influxdb.points("capteurs"), 30, "the seed reading")
    query = grafana_macros(panel_query(telegraf.output, "Test 4G"))
    from services import influx_query, rows

    found = rows(influx_query(influxdb.url, query, influxdb.database, ("grafana", influxdb.read_password)))
    assert [r["mean"] for r in found if r["mean"] is not None] == [99.9]


def test_dashboard_queries_return_the_reading_from_influxdb_2(make_pipeline, mosquitto, influxdb2):
    telegraf = make_pipeline(influx=influxdb2).start()
    client = mosquitto.client()
    client.publish("polysource/capteurs", json.dumps(SEED_READING), qos=1)
    client.close()
    wait_for(lambda: influxdb2.points("capteurs"), 30, "the seed reading")
    time.sleep(0.5)
    found = influxdb2.flux(grafana_macros(panel_query(telegraf.output, "Test 4G")))
    assert [float(r["_value"]) for r in found] == [99.9]
