"""Fixtures for the real components; see services.py."""

import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from helpers import run_cli, write_inventory
from polysource.pipeline import load_stack, render_output
from services import (
    Certificates,
    DockerEngine,
    InfluxDB,
    InfluxDB2,
    Mosquitto,
    SshServer,
    Telegraf,
    free_ports,
    influx_binaries,
    influx_dir,
    mosquitto_tool,
    require,
)


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


@pytest.fixture
def influxdb2(tmp_path_factory) -> Iterator[InfluxDB2]:
    db = InfluxDB2(tmp_path_factory.mktemp("influxdb2")).start()
    yield db
    db.stop()


# The seed's stream on a broker the stack runs itself (a capacity test and bench/pipeline.py run
# its rendered mosquitto.conf outside Docker).
MANAGED = """\
project: capacity
brokers:
  local:
    managed: true
    username: telegraf
    password: ${MOSQUITTO_TELEGRAF_PASSWORD}
    clients: {esp32: {password: "${MOSQUITTO_ESP32_PASSWORD}", publish: [polysource/capteurs]}}
streams:
  capteurs:
    broker: local
    topic: polysource/capteurs
    format: {value: valeur, sensor: idCapteur, unit: unite}
sensors:
  Test_4G: {stream: capteurs, unit: m}
"""


def seed_inventory(
    mosquitto: Mosquitto,
    transport: str = "tls",
    topic_style: str = "shared",
    storage: str | None = None,
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
    storage = storage or "{influxdb: {version: 1, database: polysource}}"
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
storage: {storage}
target: {{platform: linux/amd64, docker_host: "unix:///nonexistent.sock"}}
"""


@pytest.fixture
def make_pipeline(tmp_path, mosquitto, influxdb, certs):
    """Render an inventory for the local broker; a Telegraf (not started) on the result."""
    started: list[Telegraf] = []

    def make(
        transport: str = "tls", topic_style: str = "shared", text: str | None = None, influx=None
    ) -> Telegraf:
        influx = influx or influxdb
        shutil.copy(certs.ca, tmp_path / "ca.pem")
        if text is None and isinstance(influx, InfluxDB2):
            storage = (
                f"{{influxdb: {{version: 2, database: {influx.bucket}, organization: {influx.organization}, "
                f"retention: {influx.retention}}}}}"
            )
            text = seed_inventory(mosquitto, transport, topic_style, storage=storage)
        text = text or seed_inventory(mosquitto, transport, topic_style)
        inventory = write_inventory(tmp_path, text)
        secrets = {"HIVEMQ_PASSWORD": mosquitto.password}
        if isinstance(influx, InfluxDB2):
            secrets |= {"INFLUXDB_TOKEN": influx.token}
        else:
            secrets |= {
                "INFLUXDB_READ_PASSWORD": influx.read_password,
                "INFLUXDB_WRITE_PASSWORD": influx.write_password,
            }
        (tmp_path / ".env").write_text("".join(f"{k}={v}\n" for k, v in secrets.items()))
        output = tmp_path / "output"
        render_output(inventory, output)
        stack = load_stack(inventory)
        telegraf = Telegraf(
            output,
            {**secrets, "POLYSOURCE_INFLUXDB_URL": influx.url},
            tmp_path / "telegraf.log",
            broker=mosquitto,
            client_ids=tuple(c for s in stack.streams.values() for c in s.client_ids()),
        )
        started.append(telegraf)
        return telegraf

    yield make
    for telegraf in started:
        telegraf.stop()


# --- Docker Engine ------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def docker_process() -> Iterator[DockerEngine]:
    """The tests' dockerd itself: a power cut or a restart (on the same socket) is done to it."""
    engine = DockerEngine().start()
    yield engine
    engine.stop()


@pytest.fixture(scope="session")
def docker_engine(docker_process: DockerEngine) -> str:
    return docker_process.url


def stand_in_binaries() -> dict[str, Path]:
    binaries = {"telegraf": Telegraf.binary(), **influx_binaries(1)}
    binaries |= {name: mosquitto_tool(name) for name in ("mosquitto", "mosquitto_passwd", "mosquitto_sub")}
    if influx_dir(2):
        two = influx_binaries(2)
        binaries |= {"influxd2": two["influxd"], "influx2": two["influx"]}
    return binaries


@pytest.fixture(scope="session")
def test_images(docker_engine) -> dict[str, str]:
    import docker
    from images import build_all

    return build_all(docker.DockerClient(base_url=docker_engine), stand_in_binaries())


@pytest.fixture(scope="session")
def ssh_server(tmp_path_factory, docker_engine) -> Iterator[SshServer]:
    server = SshServer(tmp_path_factory.mktemp("sshd"), docker_engine).start()
    yield server
    server.stop()


DEPLOY_SECRETS = {
    "MOSQUITTO_TELEGRAF_PASSWORD": "test-only-telegraf-mqtt",
    "MOSQUITTO_ESP32_PASSWORD": "test-only-esp32-mqtt",
    "INFLUXDB_ADMIN_PASSWORD": "test-only-admin",
    "INFLUXDB_WRITE_PASSWORD": "test-only-write",
    "INFLUXDB_READ_PASSWORD": "test-only-read",
    "INFLUXDB_TOKEN": "test-only-operator-token",
    "GRAFANA_ADMIN_PASSWORD": "test-only-grafana",
}


def deploy_inventory(engine: str, images: dict[str, str], ports: dict, unit: str = "m") -> str:
    influx = ports.get("influx_version", 1)
    database = ports.get("database", "polysource")
    extra = ("" if influx == 1 else ", organization: lab") + ports.get("influxdb_extra", "")
    storage = f"{{influxdb: {{version: {influx}, database: {database}{extra}}}}}"  # not published
    return f"""\
project: {ports["project"]}
brokers:
  local:
    managed: true
    port: {ports["mqtt"]}
    username: telegraf
    password: ${{MOSQUITTO_TELEGRAF_PASSWORD}}
    clients: {{esp32: {{password: "${{MOSQUITTO_ESP32_PASSWORD}}", publish: [polysource/capteurs]}}}}
streams:
  capteurs:
    broker: local
    topic: polysource/capteurs
    format: {{value: valeur, sensor: idCapteur, unit: unite}}
sensors:
  Test_4G: {{stream: capteurs, name: "Test 4G", unit: {unit}, min: 0, max: 100, group: tests}}
storage: {storage}
grafana: {{port: {ports["grafana"]}}}
target:
  docker_host: {engine}
  platform: linux/amd64
  images:
    telegraf: {images["telegraf"]}
    influxdb: {images["influxdb" if influx == 1 else "influxdb2"]}
    mosquitto: {images["mosquitto"]}
    grafana: {images[ports.get("grafana_image", "grafana")]}
"""


@dataclass
class DeployProject:
    folder: Path
    inventory: Path
    output: Path
    ports: dict
    secrets: dict[str, str] = field(default_factory=dict)

    def args(self, *extra: str) -> list[str]:
        return [*extra, "-i", str(self.inventory), "-o", str(self.output)]

    def write_secrets(self, **changes: str) -> None:
        """The .env beside the inventory, each value quoted as Compose reads it back."""
        from polysource.envfile import quote

        self.secrets |= changes
        lines = [f"{k}={quote(v)}" for k, v in self.secrets.items()]
        (self.folder / ".env").write_text("\n".join(lines) + "\n")

    def edit(self, old: str, new: str) -> None:
        text = self.inventory.read_text()
        assert old in text, old
        self.inventory.write_text(text.replace(old, new))
        result = run_cli("render", "-i", str(self.inventory), "-o", str(self.output))
        assert result.exit_code == 0, result.output


@pytest.fixture
def deploy_project(tmp_path, docker_engine, test_images) -> Iterator:
    """A stack for the test's own project name and free ports; torn down with its volumes."""
    made: list[DeployProject] = []

    def make(host: str | None = None, **overrides) -> DeployProject:
        folder = tmp_path / f"stack{len(made)}"
        folder.mkdir()
        mqtt, grafana = free_ports(2)  # distinct: two single picks once collided (port already published)
        ports = {"project": f"t{uuid.uuid4().hex[:8]}", "mqtt": mqtt, "grafana": grafana, **overrides}
        if ports.get("influx_version") == 2:
            require("influxdb2" in test_images, "influxdb 2.x (built by scripts/services.sh)")
        text = deploy_inventory(host or docker_engine, test_images, ports)
        inventory = write_inventory(folder, text, "stack.yml")
        project = DeployProject(folder, inventory, folder / "output", ports, dict(DEPLOY_SECRETS))
        project.write_secrets(**overrides.get("secrets", {}))
        render_output(inventory, project.output)
        made.append(project)
        return project

    yield make
    for project in made:
        run_cli(*project.args("down", "--volumes", "--host", docker_engine))
