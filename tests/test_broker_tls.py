"""The managed broker over TLS with the stack's own CA, judged by the real components: Mosquitto
running the rendered mosquitto.conf with the certificate polysource.pki issued, the real Telegraf
with the rendered telegraf.conf (its tls_ca as written), and the boards' code (C with Debian's
mbedTLS, MicroPython's own) carrying the CA render put in their firmware. Each stores a reading;
a board or a client trusting another CA, or dialling a name the certificate is not for, is
refused; so is Telegraf given another CA."""

import datetime
import json
import socket
import ssl

import paho.mqtt.client as mqtt
import pytest
from cryptography import x509
from deploy_helpers import deploy, publish, wait_readings, wait_subscribed
from test_device import run_c, run_micropython, write_board_secrets

from conftest import MANAGED
from helpers import run_cli, write_inventory
from pipelines import managed_pipeline, stored
from polysource import pki
from polysource.pipeline import load_stack
from services import free_port, free_ports, wait_for

BOARD_LAB = (
    MANAGED.replace("project: capacity", "project: tlslab")
    .replace("    managed: true\n", "    managed: true\n    port: PORT\n")
    .replace("{stream: capteurs, unit: m}", "{stream: capteurs, unit: m, decimals: 1, min: 0, max: 100}")
    + "devices:\n  esp32-test: {stream: capteurs, sensors: [Test_4G], username: esp32, modem: wifi}\n"
)
SEED_READING = {"valeur": 99.9, "idCapteur": "Test_4G", "unite": "m"}


@pytest.fixture
def lab(tmp_path, influxdb):
    """The managed broker and Telegraf as rendered, on the inventory's port; Telegraf started."""
    port = free_port()
    inventory, broker, telegraf, accounts = managed_pipeline(
        tmp_path, influxdb, text=BOARD_LAB.replace("PORT", str(port)), port=port
    )
    yield tmp_path, broker, telegraf, accounts
    telegraf.stop()
    broker.stop()


def other_board(tmp_path, port: int, password: str):
    """The same inventory rendered in another folder: another CA, in its board's firmware."""
    folder = tmp_path / "other"
    folder.mkdir()
    inventory = write_inventory(folder, BOARD_LAB.replace("PORT", str(port)))
    result = run_cli("render", "-i", str(inventory), "-o", str(folder / "output"))
    assert result.exit_code == 0, result.output
    return write_board_secrets(folder / "output/devices/esp32-test", password)


@pytest.mark.parametrize("language", ["c", "micropython"])
def test_the_board_and_telegraf_pin_the_stacks_ca_and_a_reading_is_stored(lab, influxdb, language):
    folder, broker, telegraf, accounts = lab
    telegraf.start()
    config = (folder / "output/devices/esp32-test/polysource_config.h").read_text()
    assert "#define PS_USE_TLS 1" in config and "the stack's own CA (pki/tlslab/ca.pem)" in config
    board = write_board_secrets(folder / "output/devices/esp32-test", accounts["esp32"])
    result = run_c(board) if language == "c" else run_micropython(board)
    assert result.returncode == 0, result.stdout + result.stderr
    (line,) = [line for line in result.stdout.splitlines() if "polysource/capteurs {" in line]
    assert json.loads(line.split(" ", 2)[-1]) == SEED_READING
    wait_for(lambda: stored(influxdb) == 1, 30, "the board's reading, through Telegraf over TLS")


@pytest.mark.parametrize("language", ["c", "micropython"])
def test_a_board_carrying_another_ca_is_refused(lab, tmp_path, language):
    _, broker, _, accounts = lab
    board = other_board(tmp_path, broker.port, accounts["esp32"])
    result = run_c(board) if language == "c" else run_micropython(board)
    assert result.returncode == 1, result.stdout + result.stderr
    said = result.stdout + result.stderr
    assert "the broker's certificate is not signed by the CA this board carries" in said


def test_a_client_trusting_another_ca_or_another_name_is_refused(lab, tmp_path):
    folder, broker, _, accounts = lab
    other_board(tmp_path, broker.port, accounts["esp32"])
    refused = []
    for ca, host in (
        (tmp_path / "other/pki/tlslab/ca.pem", "localhost"),  # another stack's CA
        (folder / "pki/tlslab/ca.pem", "127.0.0.1"),  # a name the certificate is not for
        (None, "localhost"),  # the system's CAs
    ):
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"stranger-{len(refused)}")
        client.username_pw_set("esp32", accounts["esp32"])
        client.tls_set(ca_certs=str(ca) if ca else None)
        with pytest.raises(ssl.SSLCertVerificationError) as caught:
            client.connect(host, broker.port, 10)
        refused.append(caught.value.verify_message)
    assert refused[0] == "unable to get local issuer certificate", refused
    assert "IP address mismatch" in refused[1] or "mismatch" in refused[1], refused
    broker.client("esp32", accounts["esp32"], "friend").disconnect()  # the right CA and name: accepted


def test_telegraf_given_another_ca_does_not_connect(lab, tmp_path, influxdb):
    folder, broker, telegraf, accounts = lab
    other_board(tmp_path, broker.port, accounts["esp32"])
    pinned = folder / "output/telegraf/certs/local-ca.pem"
    pinned.write_bytes((tmp_path / "other/pki/tlslab/ca.pem").read_bytes())
    telegraf.broker = None
    with pytest.raises(AssertionError):
        telegraf.start()  # it stops: the subscription never comes
    log = telegraf.log.read_text()
    assert "certificate signed by unknown authority" in log, log[-2000:]
    assert broker.subscriptions(next(iter(telegraf.client_ids))) == 0


def served(project) -> bytes:
    """The certificate the deployed broker serves (DER), to a client trusting the stack's CA."""
    broker = load_stack(project.inventory).managed_broker
    context = ssl.create_default_context(cafile=str(broker.tls.folder / "ca.pem"))
    with (
        socket.create_connection(("localhost", project.ports["mqtt"]), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname="localhost") as tls,
    ):
        return tls.getpeercert(binary_form=True)


def kept(project) -> bytes:
    tls = load_stack(project.inventory).managed_broker.tls
    return ssl.PEM_cert_to_DER_cert((tls.folder / "server.pem").read_text())


def test_deploy_hands_the_broker_its_certificate_and_renews_it_before_expiry(deploy_project):
    """The deployed broker serves the certificate deploy issued (observed over TLS, not taken from
    deploy's word); one due for renewal (30 days left) is issued again by the next deploy, which
    the broker then serves, and a board's reading still reaches InfluxDB through Telegraf."""
    project = deploy_project()
    _, first = deploy(project)
    assert "issued the broker's certificate (valid until" in first.output, first.output
    assert served(project) == kept(project)
    assert "listens with plain MQTT" not in run_cli(*project.args("doctor")).output
    again = run_cli(*project.args("deploy", "--dry-run"))
    assert "the broker's certificate" not in again.output and "mosquitto-passwd" in again.output

    # the kept certificate made 795 days ago: 30 days left
    tls = load_stack(project.inventory).managed_broker.tls
    (tls.folder / "server.pem").unlink()
    now = datetime.datetime.now(datetime.UTC)
    pki.server_certificate(tls, now - datetime.timedelta(days=pki.SERVER_DAYS - 30))
    old = kept(project)
    dry = run_cli(*project.args("deploy", "--dry-run"))
    assert "would issue the broker's certificate" in dry.output, dry.output
    assert kept(project) == old, "a dry run saves nothing"
    since, renewed = deploy(project)
    assert "issued the broker's certificate" in renewed.output, renewed.output
    assert "recreate  mosquitto " in renewed.output, renewed.output
    new = kept(project)
    assert new != old and served(project) == new
    not_after = x509.load_der_x509_certificate(new).not_valid_after_utc
    assert not_after - now > datetime.timedelta(days=pki.SERVER_DAYS - 1)
    wait_subscribed(project, since=since)
    publish(project, SEED_READING)
    wait_readings(project, 1)


def test_a_websockets_listener_when_asked_with_the_same_tls(tmp_path, influxdb, monkeypatch):
    """`fallback: {transport: wss}` on the managed broker: a second listener (8884 inside, the
    inventory's port outside) with the same certificate; a client over secure websockets trusting
    the stack's CA publishes a reading Telegraf stores, and `doctor` passes every hop of both."""
    port, websocket = free_ports(2)
    text = BOARD_LAB.replace("PORT", str(port)).replace(
        "    username: telegraf\n",
        f"    fallback: {{transport: wss, port: {websocket}}}\n    username: telegraf\n",
    )
    inventory, broker, telegraf, accounts = managed_pipeline(
        tmp_path, influxdb, text=text, port=port, websocket_port=websocket
    )
    try:
        conf = (tmp_path / "output/mosquitto/mosquitto.conf").read_text()
        assert "listener 8884\nprotocol websockets\n" in conf, conf
        ports = load_stack(inventory).service("mosquitto").ports
        assert [(p.host, p.container) for p in ports] == [(port, 8883), (websocket, 8884)]
        telegraf.start()
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="wss-board", transport="websockets")
        client.ws_set_options(path="/mqtt")
        client.username_pw_set("esp32", accounts["esp32"])
        client.tls_set(ca_certs=str(tmp_path / "pki/tlslab/ca.pem"))
        client.connect("localhost", websocket, 30)
        client.loop_start()
        client.publish("polysource/capteurs", json.dumps(SEED_READING), qos=1).wait_for_publish(10)
        client.disconnect()
        client.loop_stop()
        wait_for(lambda: stored(influxdb) == 1, 30, "the reading sent over secure websockets")
        monkeypatch.setenv("MOSQUITTO_TELEGRAF_PASSWORD", accounts["telegraf"])
        monkeypatch.setenv("MOSQUITTO_ESP32_PASSWORD", accounts["esp32"])
        doctor = run_cli("doctor", "-i", str(inventory), "--json")
        report = json.loads(doctor.output[doctor.output.index("{") :])
        urls = [e["url"] for e in report["endpoints"] if e["ok"]]
        assert urls == [f"ssl://localhost:{port}", f"wss://localhost:{websocket}/mqtt"], doctor.output
    finally:
        telegraf.stop()
        broker.stop()
