"""The managed broker's CA and certificate (polysource.pki): made once beside the inventory, the
keys private and out of git, the certificate issued for the names boards and Telegraf use and
issued again before it expires, for new names, or for a new CA; never written through a link."""

import datetime
import os
import stat
import subprocess

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from helpers import run_cli, write_inventory
from polysource import pki
from polysource.errors import PkiError
from polysource.pipeline import load_stack

NOW = datetime.datetime(2026, 12, 7, tzinfo=datetime.UTC)
LAB = """\
project: tlslab
brokers:
  local:
    managed: true
    username: telegraf
    password: ${MOSQUITTO_TELEGRAF_PASSWORD}
    clients: {esp32: "${MOSQUITTO_ESP32_PASSWORD}"}
streams:
  capteurs: {broker: local, topic: polysource/capteurs, format: {value: valeur, sensor: idCapteur}}
sensors:
  Test_4G: {stream: capteurs, unit: m}
target: {docker_host: "unix:///var/run/docker.sock", address: raspberrypi.local}
"""


def tls_of(tmp_path, text: str = LAB):
    return load_stack(write_inventory(tmp_path, text)).managed_broker.tls


def names(pem: str) -> set[str]:
    cert = x509.load_pem_x509_certificate(pem.encode())
    alt = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return {str(n.value) for n in alt}


def test_the_first_render_makes_the_ca_beside_the_inventory_keys_private_and_out_of_git(tmp_path):
    inventory = tmp_path / "lab.yml"
    inventory.write_text(LAB)
    first = run_cli("render", "-i", str(inventory), "-o", str(tmp_path / "output"))
    assert first.exit_code == 0, first.output
    folder = tmp_path / "pki" / "tlslab"
    assert f"made the managed broker's CA in {folder}" in first.output
    assert stat.S_IMODE((folder / "ca.key").stat().st_mode) == 0o600
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    ca = (folder / "ca.pem").read_bytes()
    # the CA is what boards and Telegraf pin: in the firmware and beside telegraf.conf, the key nowhere
    assert (tmp_path / "output/telegraf/certs/local-ca.pem").read_bytes() == ca
    assert (tmp_path / "output/mosquitto/ca.pem").read_bytes() == ca
    key = (folder / "ca.key").read_text()
    body = "".join(key.splitlines()[1:-1])
    for path in (tmp_path / "output").rglob("*"):
        assert not path.is_file() or body[:40] not in path.read_text(errors="replace"), path
    # git keeps ca.pem and never a key
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    listed = subprocess.run(
        ["git", "-C", str(tmp_path), "status", "--porcelain", "--untracked-files=all", "pki"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "pki/tlslab/ca.pem" in listed and ".key" not in listed, listed
    again = run_cli("render", "-i", str(inventory), "-o", str(tmp_path / "output"))
    assert again.exit_code == 0 and "made the managed broker's CA" not in again.output
    assert (folder / "ca.pem").read_bytes() == ca, "one CA for the life of the stack"


def test_render_check_makes_nothing_and_names_what_is_missing(tmp_path):
    inventory = tmp_path / "lab.yml"
    inventory.write_text(LAB)
    result = run_cli("render", "-i", str(inventory), "-o", str(tmp_path / "output"), "--check")
    assert result.exit_code != 0
    assert "pki/tlslab/ca.pem" in result.output and "`polysource render` makes" in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "pki").exists()


def test_a_ca_key_without_its_certificate_is_never_replaced(tmp_path):
    folder = tmp_path / "pki" / "tlslab"
    folder.mkdir(parents=True)
    (folder / "ca.key").write_text("kept\n")
    inventory = tmp_path / "lab.yml"
    inventory.write_text(LAB)
    result = run_cli("render", "-i", str(inventory), "-o", str(tmp_path / "output"))
    assert result.exit_code != 0 and "has no ca.pem beside it" in result.output, result.output
    assert (folder / "ca.key").read_text() == "kept\n"


def test_no_key_is_written_through_a_symbolic_link(tmp_path):
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (tmp_path / "pki").symlink_to(outside)
    inventory = tmp_path / "lab.yml"
    inventory.write_text(LAB)
    result = run_cli("render", "-i", str(inventory), "-o", str(tmp_path / "output"))
    assert result.exit_code != 0 and "is a symbolic link" in result.output, result.output
    assert not list(outside.iterdir())
    # a key file that is a link: replaced by a file of its own, its target untouched
    (tmp_path / "pki").unlink()
    tls = tls_of(tmp_path)
    victim = tmp_path / "victim"
    victim.write_text("not a key\n")
    (tls.folder / "server.key").symlink_to(victim)
    pki.server_certificate(tls, NOW)
    assert victim.read_text() == "not a key\n"
    assert not (tls.folder / "server.key").is_symlink()
    assert stat.S_IMODE((tls.folder / "server.key").stat().st_mode) == 0o600


def test_the_certificate_is_for_the_names_boards_and_telegraf_use_and_signed_by_the_ca(tmp_path):
    tls = tls_of(tmp_path)
    issued = pki.server_certificate(tls, NOW)
    assert issued.renewed
    assert names(issued.cert_pem) == {"raspberrypi.local", "mosquitto", "localhost"}
    ca = x509.load_pem_x509_certificate((tls.folder / "ca.pem").read_bytes())
    cert = x509.load_pem_x509_certificate(issued.cert_pem.encode())
    cert.verify_directly_issued_by(ca)
    key = serialization.load_pem_private_key(issued.key_pem.encode(), None)
    assert key.public_key() == cert.public_key()
    assert (tls.folder / "server.pem").read_text() == issued.cert_pem
    # an address: an IP entry, which clients match against the address they dialled
    swarm = LAB.replace("address: raspberrypi.local", "address: 192.168.1.20")
    again = pki.server_certificate(tls_of(tmp_path, swarm), NOW)
    assert again.renewed and names(again.cert_pem) == {"192.168.1.20", "mosquitto", "localhost"}
    cert = x509.load_pem_x509_certificate(again.cert_pem.encode())
    ips = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert [str(a) for a in ips.get_values_for_type(x509.IPAddress)] == ["192.168.1.20"]


def test_kept_until_close_to_expiry_then_issued_again(tmp_path):
    tls = tls_of(tmp_path)
    first = pki.server_certificate(tls, NOW)
    same = pki.server_certificate(tls, NOW + datetime.timedelta(days=pki.SERVER_DAYS - pki.RENEW_DAYS - 1))
    assert not same.renewed and same.cert_pem == first.cert_pem and same.key_pem == first.key_pem
    due = NOW + datetime.timedelta(days=pki.SERVER_DAYS - pki.RENEW_DAYS + 1)
    dry = pki.server_certificate(tls, due, save=False)
    assert dry.renewed and (tls.folder / "server.pem").read_text() == first.cert_pem, (
        "a dry run saves nothing"
    )
    renewed = pki.server_certificate(tls, due)
    assert renewed.renewed and renewed.cert_pem != first.cert_pem
    assert renewed.not_after == due + datetime.timedelta(days=pki.SERVER_DAYS)


def test_a_new_ca_gets_a_new_certificate_and_a_lost_ca_key_is_named(tmp_path):
    tls = tls_of(tmp_path)
    first = pki.server_certificate(tls, NOW)
    for name in ("ca.pem", "ca.key"):
        (tls.folder / name).unlink()
    pki.make_ca(tls.folder, "tlslab", NOW)
    again = pki.server_certificate(tls, NOW)
    assert again.renewed and again.cert_pem != first.cert_pem
    (tls.folder / "server.pem").unlink()
    key = (tls.folder / "ca.key").read_text()
    (tls.folder / "ca.key").unlink()
    with pytest.raises(PkiError) as caught:
        pki.server_certificate(tls, NOW)
    assert "ca.key is missing" in str(caught.value) and "copy it from the machine" in str(caught.value)
    (tls.folder / "ca.key").write_text(key.replace("A", "B", 3))
    with pytest.raises(PkiError) as caught:
        pki.server_certificate(tls, NOW)
    assert "PRIVATE KEY" not in str(caught.value) and key[40:80] not in str(caught.value)


def test_a_special_file_where_a_certificate_is_expected_is_refused(tmp_path):
    tls = tls_of(tmp_path)
    pki.server_certificate(tls, NOW)
    (tls.folder / "server.pem").unlink()
    os.mkfifo(tls.folder / "server.pem")
    with pytest.raises(PkiError, match="not a regular file"):
        pki.server_certificate(tls, NOW)


INSECURE = LAB.replace("    managed: true\n", "    managed: true\n    insecure_lan: true\n")


def test_plain_mqtt_only_with_insecure_lan(tmp_path):
    plain = write_inventory(
        tmp_path, LAB.replace("    managed: true\n", "    managed: true\n    transport: tcp\n")
    )
    result = run_cli("render", "-i", str(plain), "-o", str(tmp_path / "output"))
    assert result.exit_code == 2
    assert "brokers.local.transport: plain tcp on a managed broker needs insecure_lan: true" in result.output
    lan = write_inventory(tmp_path, INSECURE, "lan.yml")
    result = run_cli("render", "-i", str(lan), "-o", str(tmp_path / "lan"))
    assert result.exit_code == 0, result.output
    conf = (tmp_path / "lan/mosquitto/mosquitto.conf").read_text()
    assert "listener 1883\n" in conf and "certfile" not in conf and "in clear" in conf
    stack = load_stack(lan)
    assert stack.managed_broker.tls is None and not stack.made_secrets
    assert stack.managed_broker.telegraf_urls == ("tcp://mosquitto:1883",)
    cloud = LAB.replace("    managed: true\n", "    host: broker.example.org\n    insecure_lan: true\n")
    result = run_cli(
        "render", "-i", str(write_inventory(tmp_path, cloud, "c.yml")), "-o", str(tmp_path / "c")
    )
    assert result.exit_code == 2 and "insecure_lan is for a managed broker" in result.output


def test_the_managed_broker_listens_with_tls_on_8883_by_default(tmp_path):
    stack = load_stack(write_inventory(tmp_path, LAB))
    broker = stack.managed_broker
    assert broker.telegraf_urls == ("ssl://mosquitto:8883",)
    assert broker.endpoints[0].port == 8883 and broker.endpoints[0].transport.encrypted
    mosquitto = stack.service("mosquitto")
    assert [(p.host, p.container) for p in mosquitto.ports] == [(8883, 8883)]
    assert "--cafile /mosquitto/config/ca.pem" in mosquitto.healthcheck.test[1]
    assert set(stack.made_secrets) <= set(stack.service("mosquitto-passwd").secrets)
    assert not set(stack.made_secrets) & set(stack.secrets), "never asked of the user's .env"


def test_a_secret_named_like_the_certificate_is_refused(tmp_path):
    text = LAB.replace("${MOSQUITTO_ESP32_PASSWORD}", "${POLYSOURCE_MQTT_TLS_KEY}")
    result = run_cli("render", "-i", str(write_inventory(tmp_path, text)), "-o", str(tmp_path / "o"))
    assert (
        result.exit_code == 2
        and "POLYSOURCE_MQTT_TLS_KEY is the managed broker's certificate" in result.output
    )


def test_doctor_says_when_the_managed_broker_is_plain_on_the_lan(tmp_path):
    lan = write_inventory(tmp_path, INSECURE.replace("raspberrypi.local", "127.0.0.1"))
    said = run_cli("doctor", "-i", str(lan)).output
    assert "warning: broker local listens with plain MQTT on 1883 (insecure_lan: true)" in said, said
    assert "crosses the LAN in clear" in said
    secure = write_inventory(tmp_path, LAB.replace("raspberrypi.local", "127.0.0.1"), "tls.yml")
    assert "plain MQTT" not in run_cli("doctor", "-i", str(secure)).output


def test_a_managed_broker_takes_one_websockets_listener_with_its_tls(tmp_path):
    def render(text: str, name: str):
        inventory = write_inventory(tmp_path, text, f"{name}.yml")
        return run_cli("render", "-i", str(inventory), "-o", str(tmp_path / f"{name}-out"))

    plain = render(
        LAB.replace("    managed: true\n", "    managed: true\n    fallback: {transport: ws}\n"), "a"
    )
    assert plain.exit_code == 2
    assert (
        "brokers.local.fallback: a managed broker's second listener is websockets: fallback:" in plain.output
    )
    taken = render(
        LAB.replace("    managed: true\n", "    managed: true\n    fallback: {transport: wss, port: 3000}\n"),
        "b",
    )
    assert taken.exit_code == 2 and "port 3000 is already published by grafana.port" in taken.output, (
        taken.output
    )
    lan = render(
        INSECURE.replace(
            "    insecure_lan: true\n", "    insecure_lan: true\n    fallback: {transport: ws}\n"
        ),
        "c",
    )
    assert lan.exit_code == 0, lan.output
    assert "listener 8080\nprotocol websockets\n" in (tmp_path / "c-out/mosquitto/mosquitto.conf").read_text()
