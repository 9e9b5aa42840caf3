"""The real components the tests run: Mosquitto (TLS, auth, websockets), InfluxDB 1.x, Telegraf.

Each starts on free loopback ports in a temporary folder. Without a component the tests skip,
unless POLYSOURCE_REQUIRE_SERVICES=1 (as in CI), where a missing component is a failure.
"""

import base64
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

TELEGRAF_CONFIG_ROOT = "/etc/telegraf"


def require(condition: bool, what: str) -> None:
    """Skip locally, fail in CI, when a real component is missing."""
    if condition:
        return
    if os.environ.get("POLYSOURCE_REQUIRE_SERVICES") == "1":
        pytest.fail(f"required component missing: {what} (run scripts/services.sh)")
    pytest.skip(f"component missing: {what} (run scripts/services.sh)")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(check: Callable[[], bool], timeout: float, what: str, interval: float = 0.1) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def telegraf_binary() -> Path | None:
    explicit = os.environ.get("POLYSOURCE_TELEGRAF")
    if explicit:
        return Path(explicit) if Path(explicit).is_file() else None
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "polysource"
    built = sorted(cache.glob("telegraf-*/telegraf"))
    return built[-1] if built else None


# --- certificates -------------------------------------------------------------------------------


@dataclass
class Certificates:
    """A test CA and server certificates it signs, made with openssl."""

    folder: Path

    @property
    def ca(self) -> Path:
        return self.folder / "ca.pem"

    def make_ca(self) -> None:
        self._openssl(
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            "-subj", "/CN=polysource test CA", "-keyout", "ca.key", "-out", "ca.pem",
        )  # fmt: skip

    def server(self, name: str, hostname: str, days: int = 2, expired: bool = False) -> tuple[Path, Path]:
        """(cert, key) for hostname; expired=True makes one whose validity ended yesterday."""
        ext = self.folder / f"{name}.ext"
        ext.write_text(f"subjectAltName=DNS:{hostname}\nbasicConstraints=CA:FALSE\n")
        self._openssl(
            "req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={hostname}",
            "-keyout", f"{name}.key", "-out", f"{name}.csr",
        )  # fmt: skip
        if expired:  # openssl 3.0's x509 cannot back-date; its ca command can
            (self.folder / "index.txt").write_text("")
            (self.folder / "serial").write_text("1000\n")
            (self.folder / "ca.cnf").write_text(
                "[ca]\ndefault_ca = test\n[test]\ndatabase = index.txt\nnew_certs_dir = .\n"
                "serial = serial\ndefault_md = sha256\npolicy = any\n[any]\ncommonName = supplied\n"
            )
            self._openssl(
                "ca", "-batch", "-config", "ca.cnf", "-cert", "ca.pem", "-keyfile", "ca.key",
                "-in", f"{name}.csr", "-out", f"{name}.pem", "-notext", "-extfile", ext.name,
                "-startdate", "20200101000000Z", "-enddate", "20200102000000Z",
            )  # fmt: skip
        else:
            self._openssl(
                "x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                "-CAcreateserial", "-days", str(days), "-extfile", ext.name, "-out", f"{name}.pem",
            )  # fmt: skip
        return self.folder / f"{name}.pem", self.folder / f"{name}.key"

    def _openssl(self, *args: str) -> None:
        subprocess.run(["openssl", *args], cwd=self.folder, check=True, capture_output=True)


# --- Mosquitto ----------------------------------------------------------------------------------


@dataclass
class Mosquitto:
    """Stands in for HiveMQ Cloud: MQTT over TLS and over secure websockets, with a password."""

    folder: Path
    certs: Certificates
    hostname: str = "localhost"  # the name the server certificate is for
    expired: bool = False
    username: str = "polysource-pi"
    password: str = "test-only-mqtt-password"
    tls_port: int = field(default_factory=free_port)
    wss_port: int = field(default_factory=free_port)
    process: subprocess.Popen | None = None

    def start(self) -> "Mosquitto":
        binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        require(Path(binary).exists(), "mosquitto")
        cert, key = self.certs.server(f"broker-{self.tls_port}", self.hostname, expired=self.expired)
        passwd = self.folder / "passwd"
        subprocess.run(
            ["mosquitto_passwd", "-c", "-b", str(passwd), self.username, self.password],
            check=True,
            capture_output=True,
        )
        tls = f"cafile {self.certs.ca}\ncertfile {cert}\nkeyfile {key}\n"
        config = self.folder / "mosquitto.conf"
        config.write_text(
            "user root\nper_listener_settings false\nallow_anonymous false\n"
            f"password_file {passwd}\nmax_queued_messages 100000\nmax_inflight_messages 100\n"
            f"persistence false\nlog_dest file {self.folder / 'mosquitto.log'}\n"
            f"listener {self.tls_port} 127.0.0.1\nprotocol mqtt\n{tls}"
            f"listener {self.wss_port} 127.0.0.1\nprotocol websockets\n{tls}"
        )
        self.process = subprocess.Popen([binary, "-c", str(config)], stderr=subprocess.PIPE)
        try:
            wait_for(lambda: port_open(self.tls_port) and port_open(self.wss_port), 10, "mosquitto")
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)

    def client(self, transport: str = "tls", client_id: str = "") -> "MqttClient":
        return MqttClient(self, transport, client_id)


class MqttClient:
    """A paho client that trusts the test CA, as an ESP32 with the right root certificate would."""

    def __init__(self, broker: Mosquitto, transport: str, client_id: str):
        import paho.mqtt.client as mqtt

        websockets = transport == "wss"
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=client_id,
            transport="websockets" if websockets else "tcp",
        )
        if websockets:
            self.client.ws_set_options(path="/mqtt")
        self.client.tls_set(ca_certs=str(broker.certs.ca), cert_reqs=ssl.CERT_REQUIRED)
        self.client.username_pw_set(broker.username, broker.password)
        port = broker.wss_port if websockets else broker.tls_port
        self.client.connect("localhost", port, keepalive=30)
        self.client.loop_start()

    def publish(self, topic: str, payload: str | bytes, qos: int = 1) -> None:
        info = self.client.publish(topic, payload, qos=qos)
        info.wait_for_publish(timeout=10)
        assert info.is_published(), f"not acknowledged: {topic}"

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


# --- InfluxDB -----------------------------------------------------------------------------------


@dataclass
class InfluxDB:
    """Debian's InfluxDB 1.x with auth on, set up as the influxdb:1.8 image's init would."""

    folder: Path
    database: str = "polysource"
    admin_password: str = "test-only-admin-password"
    write_user: str = "telegraf"
    write_password: str = "test-only-write-password"
    read_user: str = "grafana"
    read_password: str = "test-only-read-password"
    port: int = field(default_factory=free_port)
    rpc_port: int = field(default_factory=free_port)
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, initialise: bool = True) -> "InfluxDB":
        binary = shutil.which("influxd")
        require(binary is not None, "influxd")
        config = self.folder / "influxdb.conf"
        config.write_text(
            f'reporting-disabled = true\nbind-address = "127.0.0.1:{self.rpc_port}"\n'
            f'[meta]\n  dir = "{self.folder}/meta"\n'
            f'[data]\n  dir = "{self.folder}/data"\n  wal-dir = "{self.folder}/wal"\n'
            "  query-log-enabled = false\n"
            "[monitor]\n  store-enabled = false\n"
            f'[http]\n  bind-address = "127.0.0.1:{self.port}"\n  auth-enabled = true\n'
            "  log-enabled = false\n"
        )
        log = open(self.folder / "influxd.log", "ab")  # noqa: SIM115 - lives as long as the process
        self.process = subprocess.Popen([binary, "-config", str(config)], stdout=log, stderr=log)
        try:
            self._initialise(initialise)
        except BaseException:
            self.stop()
            raise
        return self

    def _initialise(self, initialise: bool) -> None:
        wait_for(self.ping, 20, "influxd /ping")
        if initialise:
            # The first admin may be created without credentials, as the image's init does.
            self.query(
                f"CREATE USER admin WITH PASSWORD '{self.admin_password}' WITH ALL PRIVILEGES", auth=False
            )
            self.query(f'CREATE DATABASE "{self.database}"')
            self.query(f"CREATE USER {self.write_user} WITH PASSWORD '{self.write_password}'")
            self.query(f'GRANT WRITE ON "{self.database}" TO {self.write_user}')
            self.query(f"CREATE USER {self.read_user} WITH PASSWORD '{self.read_password}'")
            self.query(f'GRANT READ ON "{self.database}" TO {self.read_user}')

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(20)

    def ping(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/ping", timeout=1) as response:
                return response.status == 204
        except OSError:
            return False

    def query(self, q: str, db: str | None = None, auth: bool = True) -> dict:
        return influx_query(self.url, q, db, ("admin", self.admin_password) if auth else None)

    def points(self, measurement: str, where: str = "") -> list[dict]:
        """Every point of measurement, as dicts of column -> value."""
        clause = f" WHERE {where}" if where else ""
        return rows(self.query(f'SELECT * FROM "{measurement}"{clause}', db=self.database))


def influx_query(url: str, q: str, db: str | None = None, auth: tuple[str, str] | None = None) -> dict:
    """InfluxDB 1.x /query, with basic auth (1.6 does not read u/p from a POST body)."""
    params = {"q": q, **({"db": db} if db else {})}
    request = urllib.request.Request(f"{url}/query", data=urllib.parse.urlencode(params).encode())
    if auth:
        token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def rows(result: dict) -> list[dict]:
    """Every row of an InfluxDB /query result, as dicts of column -> value."""
    found = []
    for statement in result.get("results", []):
        for series in statement.get("series", []):
            found += [dict(zip(series["columns"], values, strict=True)) for values in series["values"]]
    return found


# --- Telegraf -----------------------------------------------------------------------------------


@dataclass
class Telegraf:
    """The real Telegraf on a rendered output/, its telegraf folder mounted at /etc/telegraf.

    The mount happens in a private mount namespace (unshare), as the container's bind mount would,
    so the rendered paths (tls_ca = "/etc/telegraf/certs/...") are used exactly as written.
    """

    output: Path
    env: dict[str, str]
    log: Path
    process: subprocess.Popen | None = None

    @staticmethod
    def binary() -> Path:
        found = telegraf_binary()
        require(found is not None, "telegraf (built by scripts/services.sh)")
        assert found is not None
        return found

    def command(self, *args: str) -> list[str]:
        Path(TELEGRAF_CONFIG_ROOT).mkdir(exist_ok=True)
        script = 'mount --bind "$0" /etc/telegraf && exec "$@"'
        config = f"{TELEGRAF_CONFIG_ROOT}/telegraf.conf"
        return [
            "unshare", "--mount", "--propagation", "private", "sh", "-c", script,
            str(self.output / "telegraf"), str(self.binary()), *args, "--config", config,
        ]  # fmt: skip

    def environment(self) -> dict[str, str]:
        return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **self.env}

    def check(self) -> subprocess.CompletedProcess:
        return subprocess.run(
            self.command("config", "check", "--strict-env-handling"),
            env=self.environment(),
            capture_output=True,
            text=True,
            timeout=60,
        )

    def start(self) -> "Telegraf":
        handle = open(self.log, "ab")  # noqa: SIM115 - lives as long as the process
        self.process = subprocess.Popen(
            self.command(), env=self.environment(), stdout=handle, stderr=subprocess.STDOUT
        )
        wait_for(lambda: b"Connected [" in self.log.read_bytes() or self.exited(), 30, "telegraf")
        assert not self.exited(), self.log.read_text()
        return self

    def exited(self) -> bool:
        return self.process is not None and self.process.poll() is not None

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)


# --- Docker Engine ------------------------------------------------------------------------------


@dataclass
class DockerEngine:
    """dockerd on its own socket and folders; its data root is cached so images are reused."""

    process: subprocess.Popen | None = None
    url: str = ""

    def start(self) -> "DockerEngine":
        import tempfile

        import docker

        require(shutil.which("dockerd") is not None, "dockerd (docker.io)")
        run = Path(tempfile.mkdtemp(prefix="psd-", dir="/tmp"))  # short: socket paths are limited
        cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "polysource" / "docker"
        cache.mkdir(parents=True, exist_ok=True)
        self.url = f"unix://{run}/docker.sock"
        self.log = run / "dockerd.log"
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen(
                [
                    "dockerd",
                    "--host",
                    self.url,
                    "--data-root",
                    str(cache),
                    "--exec-root",
                    str(run / "exec"),
                    "--pidfile",
                    str(run / "docker.pid"),
                    "--bridge",
                    "none",
                ],  # fmt: skip
                stdout=log,
                stderr=subprocess.STDOUT,
            )

        def up() -> bool:
            try:
                return docker.DockerClient(base_url=self.url).ping()
            except Exception:
                return self.process is not None and self.process.poll() is not None

        wait_for(up, 60, "dockerd")
        assert self.process.poll() is None, self.log.read_text()[-2000:]
        return self

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(30)
