"""doctor against real brokers, and the school firewall simulated on loopback (iptables DROP)."""

import json
import shutil
import subprocess
import time

import pytest

from helpers import run_cli, write_inventory
from services import Mosquitto, free_port, require


@pytest.fixture
def dropped_port():
    """A loopback port whose packets are silently dropped, as the school firewall did to 8883."""
    require(shutil.which("iptables") is not None, "iptables")
    port = free_port()
    rule = ["INPUT", "-p", "tcp", "--dport", str(port), "-j", "DROP"]
    subprocess.run(["iptables", "-I", *rule], check=True)
    yield port
    subprocess.run(["iptables", "-D", *rule], check=True)


def inventory(tmp_path, certs, port: int, transport="tls", fallback="", password_var="MQTT_PASSWORD") -> str:
    shutil.copy(certs.ca, tmp_path / "ca.pem")
    text = f"""\
project: doctor
brokers:
  cloud:
    host: localhost
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
storage: {{influxdb: {{port: {free_port()}}}}}
"""
    return str(write_inventory(tmp_path, text))


def doctor(path: str, monkeypatch, password: str, *args: str):
    monkeypatch.setenv("MQTT_PASSWORD", password)
    start = time.monotonic()
    result = run_cli("doctor", "-i", path, *args)
    return result, time.monotonic() - start


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
