"""Fixtures for the real components; see services.py."""

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from helpers import write_inventory
from polysource.pipeline import render_output
from services import Certificates, InfluxDB, Mosquitto, Telegraf, require


@pytest.fixture(scope="session")
def certs(tmp_path_factory) -> Certificates:
    require(shutil.which("openssl") is not None, "openssl")
    certs = Certificates(tmp_path_factory.mktemp("certs"))
    certs.make_ca()
    return certs


@pytest.fixture
def mosquitto(tmp_path_factory, certs) -> Iterator[Mosquitto]:
    broker = Mosquitto(tmp_path_factory.mktemp("mosquitto"), certs).start()
    yield broker
    broker.stop()


@pytest.fixture
def influxdb(tmp_path_factory) -> Iterator[InfluxDB]:
    db = InfluxDB(tmp_path_factory.mktemp("influxdb")).start()
    yield db
    db.stop()


def seed_inventory(mosquitto: Mosquitto, transport: str = "tls", topic_style: str = "shared") -> str:
    """The seed's inventory, pointed at the local Mosquitto instead of HiveMQ Cloud."""
    port = mosquitto.tls_port if transport == "tls" else mosquitto.wss_port
    path = "    path: /mqtt\n" if transport == "wss" else ""
    if topic_style == "shared":
        stream = (
            "    topic: polysource/capteurs\n    format: {value: valeur, sensor: idCapteur, unit: unite}\n"
        )
    else:
        stream = (
            "    topic: polysource/{site}/{sensor}\n    format: {value: value}\n    measurement: mesures\n"
        )
    return f"""\
project: polysource
brokers:
  hivemq:
    host: localhost
    port: {port}
    transport: {transport}
{path}    username: {mosquitto.username}
    password: ${{HIVEMQ_PASSWORD}}
    ca_file: ca.pem
streams:
  capteurs:
    broker: hivemq
{stream}sensors:
  Test_4G: {{stream: capteurs, name: "Test 4G", unit: m, min: 0, max: 100, group: tests}}
storage: {{influxdb: {{version: 1, database: polysource}}}}
target: {{platform: linux/amd64}}
"""


@pytest.fixture
def make_pipeline(tmp_path, mosquitto, influxdb, certs):
    """Render an inventory for the local broker and start the real Telegraf on the result."""
    started: list[Telegraf] = []

    def make(transport: str = "tls", topic_style: str = "shared", text: str | None = None) -> Telegraf:
        shutil.copy(certs.ca, tmp_path / "ca.pem")
        inventory = write_inventory(tmp_path, text or seed_inventory(mosquitto, transport, topic_style))
        output = tmp_path / "output"
        render_output(inventory, output)
        telegraf = Telegraf(
            output,
            {
                "HIVEMQ_PASSWORD": mosquitto.password,
                "INFLUXDB_WRITE_PASSWORD": influxdb.write_password,
                "POLYSOURCE_INFLUXDB_URL": influxdb.url,
            },
            tmp_path / "telegraf.log",
        )
        started.append(telegraf)
        return telegraf

    yield make
    for telegraf in started:
        telegraf.stop()


def output_of(telegraf: Telegraf) -> Path:
    return telegraf.output
