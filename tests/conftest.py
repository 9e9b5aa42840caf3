"""Fixtures for the real components; see services.py."""

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from helpers import write_inventory
from polysource.pipeline import render_output
from services import Certificates, DockerEngine, InfluxDB, Mosquitto, Telegraf, require


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


def seed_inventory(
    mosquitto: Mosquitto, transport: str = "tls", topic_style: str = "shared", influx_port: int = 8086
) -> str:
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
storage: {{influxdb: {{version: 1, database: polysource, port: {influx_port}}}}}
target: {{platform: linux/amd64, docker_host: "unix:///nonexistent.sock"}}
"""


@pytest.fixture
def make_pipeline(tmp_path, mosquitto, influxdb, certs):
    """Render an inventory for the local broker and start the real Telegraf on the result."""
    started: list[Telegraf] = []

    def make(transport: str = "tls", topic_style: str = "shared", text: str | None = None) -> Telegraf:
        shutil.copy(certs.ca, tmp_path / "ca.pem")
        text = text or seed_inventory(mosquitto, transport, topic_style, influxdb.port)
        inventory = write_inventory(tmp_path, text)
        secrets = {"HIVEMQ_PASSWORD": mosquitto.password, "INFLUXDB_READ_PASSWORD": influxdb.read_password}
        (tmp_path / ".env").write_text("".join(f"{k}={v}\n" for k, v in secrets.items()))
        output = tmp_path / "output"
        render_output(inventory, output)
        telegraf = Telegraf(
            output,
            {
                "HIVEMQ_PASSWORD": mosquitto.password,
                "INFLUXDB_READ_PASSWORD": influxdb.read_password,
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


# --- Docker Engine ------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def docker_engine() -> Iterator[str]:
    engine = DockerEngine().start()
    yield engine.url
    engine.stop()


@pytest.fixture(scope="session")
def test_images(docker_engine) -> dict[str, str]:
    import docker
    from images import build_all

    return build_all(docker.DockerClient(base_url=docker_engine), Telegraf.binary())


DEPLOY_SECRETS = {
    "MOSQUITTO_TELEGRAF_PASSWORD": "test-only-telegraf-mqtt",
    "MOSQUITTO_ESP32_PASSWORD": "test-only-esp32-mqtt",
    "INFLUXDB_ADMIN_PASSWORD": "test-only-admin",
    "INFLUXDB_WRITE_PASSWORD": "test-only-write",
    "INFLUXDB_READ_PASSWORD": "test-only-read",
    "GRAFANA_ADMIN_PASSWORD": "test-only-grafana",
}


def deploy_inventory(engine: str, images: dict[str, str], ports: dict[str, int], unit: str = "m") -> str:
    return f"""\
project: {ports["project"]}
brokers:
  local:
    managed: true
    port: {ports["mqtt"]}
    username: telegraf
    password: ${{MOSQUITTO_TELEGRAF_PASSWORD}}
    clients: {{esp32: "${{MOSQUITTO_ESP32_PASSWORD}}"}}
streams:
  capteurs:
    broker: local
    topic: polysource/capteurs
    format: {{value: valeur, sensor: idCapteur, unit: unite}}
sensors:
  Test_4G: {{stream: capteurs, name: "Test 4G", unit: {unit}, min: 0, max: 100, group: tests}}
storage: {{influxdb: {{version: 1, database: polysource, port: {ports["influxdb"]}}}}}
grafana: {{port: {ports["grafana"]}}}
target:
  docker_host: {engine}
  platform: linux/amd64
  images:
    telegraf: {images["telegraf"]}
    influxdb: {images["influxdb"]}
    mosquitto: {images["mosquitto"]}
    grafana: {images[ports.get("grafana_image", "grafana")]}
"""


@dataclass
class DeployProject:
    folder: Path
    inventory: Path
    output: Path
    ports: dict

    def args(self, *extra: str) -> list[str]:
        return [*extra, "-i", str(self.inventory), "-o", str(self.output)]


@pytest.fixture
def deploy_project(tmp_path, docker_engine, test_images) -> Iterator:
    """A stack for the test's own project name and free ports; torn down with its volumes."""
    import uuid

    from services import free_port

    made: list[DeployProject] = []

    def make(**overrides) -> DeployProject:
        folder = tmp_path / "stack"
        folder.mkdir(exist_ok=True)
        ports = {
            "project": f"t{uuid.uuid4().hex[:8]}",
            "mqtt": free_port(),
            "influxdb": free_port(),
            "grafana": free_port(),
            **overrides,
        }
        (folder / ".env").write_text("".join(f"{k}={v}\n" for k, v in DEPLOY_SECRETS.items()))
        inventory = write_inventory(folder, deploy_inventory(docker_engine, test_images, ports), "stack.yml")
        project = DeployProject(folder, inventory, folder / "output", ports)
        render_output(inventory, project.output)
        made.append(project)
        return project

    yield make
    from helpers import run_cli

    for project in made:
        run_cli(*project.args("down", "--volumes"))
