"""The real components the tests run: Mosquitto (TLS, auth, websockets), InfluxDB 1.8 and 2.7,
Telegraf, dockerd and an OpenSSH server.

Each starts on free loopback ports in a temporary folder. Without a component the tests skip,
unless POLYSOURCE_REQUIRE_SERVICES=1 (as in CI), where a missing component is a failure.
No helper here swallows an error: a failed query raises, it never reads as "no rows".
"""

import contextlib
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
from typing import Any

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
    return free_ports(1)[0]


def free_ports(count: int) -> list[int]:
    """Ports free now, distinct: each held bound until all are chosen (one after the other, the
    kernel may hand out the same port twice)."""
    with contextlib.ExitStack() as held:
        socks = [held.enter_context(socket.socket()) for _ in range(count)]
        for sock in socks:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in socks]


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


def tools_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "polysource"


def telegraf_binary() -> Path | None:
    explicit = os.environ.get("POLYSOURCE_TELEGRAF")
    if explicit:
        return Path(explicit) if Path(explicit).is_file() else None
    built = sorted(tools_dir().glob("telegraf-*/telegraf"))
    return built[-1] if built else None


TELEGRAF_VIEW = Path(__file__).parent / "standins" / "telegraf-view"


def telegraf_view() -> Path:
    """tests/standins/telegraf-view built against Telegraf v1.39.3 from the Go module proxy (once
    per source, under ~/.cache): what the real Telegraf's config package reads from a file."""
    import hashlib

    require(shutil.which("go") is not None, "go (to build the Telegraf config view)")
    files = sorted(TELEGRAF_VIEW.glob("*"))
    digest = hashlib.sha256(b"".join(f.name.encode() + f.read_bytes() for f in files)).hexdigest()[:16]
    binary = tools_dir() / "standins" / f"telegraf-view-{digest}"
    if not binary.exists():
        work = tools_dir() / "standins" / f"telegraf-view-src-{digest}"
        shutil.rmtree(work, ignore_errors=True)
        shutil.copytree(TELEGRAF_VIEW, work)
        env = {**os.environ, "CGO_ENABLED": "0"}
        for command in (["go", "mod", "tidy"], ["go", "build", "-o", str(binary) + ".partial", "."]):
            subprocess.run(command, cwd=work, env=env, check=True, capture_output=True, timeout=900)
        Path(str(binary) + ".partial").replace(binary)
        shutil.rmtree(work, ignore_errors=True)
    return binary


MOSQUITTO_VERSION = "2.0.21"  # built by scripts/services.sh: the version the stack's image runs


def mosquitto_tool(name: str) -> Path:
    """mosquitto (sbin) or one of its tools (bin), as scripts/services.sh built them; never
    Debian's 2.0.11, whose shared subscriptions and durable sessions differ."""
    explicit = os.environ.get("POLYSOURCE_MOSQUITTO")
    folder = Path(explicit) if explicit else tools_dir() / f"mosquitto-{MOSQUITTO_VERSION}"
    found = folder / ("sbin" if name == "mosquitto" else "bin") / name
    require(found.is_file(), f"mosquitto {MOSQUITTO_VERSION} (built by scripts/services.sh)")
    return found


COMPOSE_VERSION = "2.29.7"  # built by scripts/services.sh from the Go module proxy


def compose_binary() -> Path:
    """Docker Compose v2 (the `docker compose` plugin's binary, run on its own)."""
    explicit = os.environ.get("POLYSOURCE_COMPOSE")
    found = Path(explicit) if explicit else tools_dir() / f"compose-{COMPOSE_VERSION}" / "cmd"
    require(found.is_file(), f"docker compose {COMPOSE_VERSION} (built by scripts/services.sh)")
    return found


def influx_dir(major: int) -> Path | None:
    """The folder holding influxd and influx built by scripts/services.sh (1.8.10 or 2.7.12)."""
    explicit = os.environ.get(f"POLYSOURCE_INFLUXDB{major}")
    found = Path(explicit) if explicit else next(iter(sorted(tools_dir().glob(f"influxdb-{major}.*"))), None)
    if found and (found / "influxd").is_file() and (found / "influx").is_file():
        return found
    return None


def influx_binaries(major: int) -> dict[str, Path]:
    folder = influx_dir(major)
    require(folder is not None, f"influxdb {major}.x (built by scripts/services.sh)")
    assert folder is not None
    return {"influxd": folder / "influxd", "influx": folder / "influx"}


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
    server_ca: "Certificates | None" = None  # another CA signs the server's certificate
    accounts: dict[str, str] = field(default_factory=dict)  # more users (boards), name -> password
    username: str = "polysource-pi"
    password: str = "test-only-mqtt-password"
    tls_port: int = field(default_factory=free_port)
    wss_port: int = field(default_factory=free_port)
    plain_port: int = field(default_factory=free_port)  # MQTT without TLS, for a TLS front
    persistence: bool = False  # sessions survive a restart (HiveMQ Cloud's cluster keeps them)
    window: int = 100  # max_inflight_messages: QoS 1 messages sent to a client before its PUBACKs
    process: subprocess.Popen | None = None

    def __post_init__(self) -> None:
        if len({self.tls_port, self.wss_port, self.plain_port}) < 3:  # three single picks may meet
            self.tls_port, self.wss_port, self.plain_port = free_ports(3)

    def start(self, retries: int = 2) -> "Mosquitto":
        binary = mosquitto_tool("mosquitto")
        cert, key = (self.server_ca or self.certs).server(
            f"broker-{self.tls_port}", self.hostname, expired=self.expired
        )
        passwd = self.folder / "passwd"
        for i, (user, password) in enumerate({self.username: self.password, **self.accounts}.items()):
            create = ["-c"] if i == 0 else []
            subprocess.run(
                [mosquitto_tool("mosquitto_passwd"), *create, "-b", str(passwd), user, password],
                check=True,
                capture_output=True,
            )
        tls = f"cafile {self.certs.ca}\ncertfile {cert}\nkeyfile {key}\n"
        config = self.folder / "mosquitto.conf"
        config.write_text(
            "user root\nper_listener_settings false\nallow_anonymous false\n"
            f"password_file {passwd}\nmax_queued_messages 100000\nmax_inflight_messages {self.window}\n"
            + f"persistence {str(self.persistence).lower()}\npersistence_location {self.folder}/\n"
            f"log_dest file {self.folder / 'mosquitto.log'}\nlog_type all\n"
            f"listener {self.tls_port} 127.0.0.1\nprotocol mqtt\n{tls}"
            f"listener {self.wss_port} 127.0.0.1\nprotocol websockets\n{tls}"
            f"listener {self.plain_port} 127.0.0.1\nprotocol mqtt\n"
        )
        self.process = subprocess.Popen([binary, "-c", str(config)], stderr=subprocess.PIPE)
        try:
            wait_for(
                lambda: (
                    (port_open(self.tls_port) and port_open(self.wss_port)) or self.process.poll() is not None
                ),
                10,
                "mosquitto",
            )
        except BaseException:
            self.stop()
            raise
        if self.process.poll() is not None:  # a port taken between free_port() and the bind: others
            said = self.process.stderr.read().decode(errors="replace") if self.process.stderr else ""
            said += self.log.read_text(errors="replace") if self.log.exists() else ""
            # libwebsockets says only this when its port was taken
            taken = "Address already in use" in said or "Unable to create websockets listener" in said
            if taken and retries:
                self.tls_port, self.wss_port, self.plain_port = free_ports(3)
                return self.start(retries - 1)
            raise AssertionError(f"mosquitto exited at start: {said}")
        return self

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)

    @property
    def log(self) -> Path:
        return self.folder / "mosquitto.log"

    def subscriptions(self, client_id: str) -> int:
        """How many SUBSCRIBE packets from client_id reached the broker (its log counts them)."""
        if not self.log.exists():
            return 0
        return self.log.read_text(errors="replace").count(f"Received SUBSCRIBE from {client_id}\n")

    def client(self, transport: str = "tls", client_id: str = "") -> "MqttClient":
        return MqttClient(self, transport, client_id)


def board_client(user: str, password: str, client_id: str, host: str, port: int, ca: Path | None) -> Any:
    """A connected paho client (its loop not started), as a board connects: over TLS trusting only
    `ca` (the stack's), to `host`, which the certificate must name; plain MQTT without a CA."""
    import paho.mqtt.client as mqtt

    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id)
    client.username_pw_set(user, password)
    if ca:
        client.tls_set(ca_certs=str(ca))
    client.connect(host, port, 30)
    return client


def fleet_publisher(port: int, user: str, password: str, ca: Path | None = None) -> Any:
    """A started paho client that does not wait for each PUBACK (a fleet publishes side by side);
    TLS trusting `ca` when given."""
    import paho.mqtt.client as mqtt

    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"fleet-{port}")
    if ca:
        client.tls_set(ca_certs=str(ca))
    client.username_pw_set(user, password)
    client.max_inflight_messages_set(1000)
    client.connect("localhost", port, keepalive=30)
    client.loop_start()
    return client


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
    """InfluxDB 1.8.10 (the Pi's, built from the Go module proxy) with auth on, set up as
    deploy's converge would leave it."""

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
        binary = influx_binaries(1)["influxd"]
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
        self.process = subprocess.Popen([str(binary), "-config", str(config)], stdout=log, stderr=log)
        try:
            wait_for(self.ping, 20, "influxd /ping")
            if initialise:
                self._initialise()
        except BaseException:
            self.stop()
            raise
        return self

    def _initialise(self) -> None:
        from polysource.stack.queries import influxql_identifier as ident
        from polysource.stack.queries import influxql_string as text

        db = ident(self.database)
        # The first admin may be created without credentials, as InfluxDB allows.
        self.query(
            f"CREATE USER admin WITH PASSWORD {text(self.admin_password)} WITH ALL PRIVILEGES", auth=False
        )
        self.query(f"CREATE DATABASE {db}")
        self.query(f"CREATE USER {ident(self.write_user)} WITH PASSWORD {text(self.write_password)}")
        self.query(f"GRANT WRITE ON {db} TO {ident(self.write_user)}")
        self.query(f"CREATE USER {ident(self.read_user)} WITH PASSWORD {text(self.read_password)}")
        self.query(f"GRANT READ ON {db} TO {ident(self.read_user)}")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(20)

    def kill(self) -> None:
        """As a power cut would: SIGKILL, nothing flushed or closed."""
        killed(self.process)

    def ping(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/ping", timeout=1) as response:
                return response.status == 204
        except OSError:
            return False

    def query(self, q: str, db: str | None = None, auth: bool = True) -> list[dict]:
        """Rows of an InfluxQL query; any error (HTTP, or inside the answer) raises."""
        from influx_http import influxql

        return influxql(self.url, db, ("admin", self.admin_password) if auth else None, q)

    def points(self, measurement: str, where: str = "") -> list[dict]:
        """Every point of measurement, as dicts of column -> value."""
        from polysource.stack.queries import influxql_identifier

        clause = f" WHERE {where}" if where else ""
        return self.query(f"SELECT * FROM {influxql_identifier(measurement)}{clause}", db=self.database)


@dataclass
class InfluxDB2:
    """InfluxDB 2.7.12 (built from the Go module proxy, Flux engine included), set up on start."""

    folder: Path
    organization: str = "lab"
    bucket: str = "capteurs"
    username: str = "admin"
    password: str = "test-only-admin-password"
    token: str = "test-only-operator-token"
    retention: str = "30d"
    env: dict[str, str] = field(default_factory=dict)  # INFLUXD_* settings, instead of the flags
    port: int = field(default_factory=free_port)
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "InfluxDB2":
        binaries = influx_binaries(2)
        log = open(self.folder / "influxd.log", "ab")  # noqa: SIM115 - lives as long as the process
        self.process = subprocess.Popen(
            [
                str(binaries["influxd"]),
                "--bolt-path",
                str(self.folder / "influxd.bolt"),
                "--engine-path",
                str(self.folder / "engine"),
                "--http-bind-address",
                f"127.0.0.1:{self.port}",
                *(["--reporting-disabled"] if not self.env else []),
                "--log-level",
                "error",
            ],  # fmt: skip
            stdout=log,
            stderr=log,
            env={**os.environ, **self.env},
        )
        try:
            wait_for(self.healthy, 30, "influxd 2 /health")
            subprocess.run(
                [
                    str(binaries["influx"]),
                    "setup",
                    "--host",
                    self.url,
                    "--force",
                    "--username",
                    self.username,
                    "--password",
                    self.password,
                    "--org",
                    self.organization,
                    "--bucket",
                    self.bucket,
                    "--retention",
                    self.retention,
                    "--token",
                    self.token,
                ],  # fmt: skip
                check=True,
                capture_output=True,
                env={"INFLUX_CONFIGS_PATH": str(self.folder / "configs"), "PATH": os.environ["PATH"]},
            )
        except BaseException:
            self.stop()
            raise
        return self

    def healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/health", timeout=1) as response:
                return response.status == 200
        except OSError:
            return False

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(30)

    def flux(self, query: str) -> list[dict]:
        from influx_http import flux

        return flux(self.url, self.organization, self.token, query)

    def points(self, measurement: str) -> list[dict]:
        return self.flux(
            f'from(bucket: "{self.bucket}") |> range(start: -1h) '
            f'|> filter(fn: (r) => r._measurement == "{measurement}")'
        )


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
    broker: "Mosquitto | None" = None  # when given, start() waits for these clients' SUBSCRIBE
    client_ids: tuple[str, ...] = ()

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
        """Start, and return once the broker has each stream's subscription (Telegraf logs
        "Connected" before it subscribes: waiting for that alone races the first readings)."""
        broker = self.broker
        before = {c: broker.subscriptions(c) for c in self.client_ids} if broker else {}
        handle = open(self.log, "ab")  # noqa: SIM115 - lives as long as the process
        self.process = subprocess.Popen(
            self.command(), env=self.environment(), stdout=handle, stderr=subprocess.STDOUT
        )

        def ready() -> bool:
            if broker is None:
                return b"Connected [" in self.log.read_bytes()
            return all(broker.subscriptions(c) > n for c, n in before.items())

        wait_for(lambda: ready() or self.exited(), 30, "telegraf's subscription")
        assert not self.exited(), self.log.read_text()
        return self

    def exited(self) -> bool:
        return self.process is not None and self.process.poll() is not None

    def kill(self) -> None:
        """As a power cut would: what it holds unwritten is gone."""
        killed(self.process)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)


def killed(process: subprocess.Popen | None) -> None:
    """SIGKILL and reap: a power cut, for one process."""
    if process and process.poll() is None:
        process.kill()
        process.wait(10)


# --- Docker Engine ------------------------------------------------------------------------------


def stop_stale_dockerd(data_root: Path) -> None:
    """A dockerd left by an interrupted run holds the cached data root: stop it first."""
    for pid, _, command in _processes():
        args = command.split(b"\0")
        if args and args[0].endswith(b"dockerd") and str(data_root).encode() in args:
            os.kill(pid, signal.SIGTERM)
            wait_for(
                lambda pid=pid: not Path(f"/proc/{pid}").exists(), 60, f"the stale dockerd {pid} to stop"
            )


def release_dead_namespaces() -> None:
    """A dockerd killed outright leaves its network namespaces mounted under its exec root, an
    overlay's vxlan device inside: the next swarm's overlay then fails ("error creating vxlan
    interface: file exists"). Unmount those of every tests' dockerd no longer running."""
    for line in Path("/proc/mounts").read_text().splitlines():
        fields = line.split()
        if len(fields) < 3 or fields[2] != "nsfs" or not fields[1].startswith("/tmp/psd-"):
            continue
        run = Path(*Path(fields[1]).parts[:3])
        try:
            alive = Path(f"/proc/{int((run / 'docker.pid').read_text())}").exists()
        except (OSError, ValueError):
            alive = False
        if not alive:
            subprocess.run(["umount", "-l", fields[1]], capture_output=True)


def launch_dockerd(
    cache_name: str, prefix: list[str], what: str, run: Path | None = None
) -> tuple[subprocess.Popen, str, Path]:
    """dockerd on its own socket and exec root, its data root cached under ~/.cache (images are
    reused across runs), started through prefix (a namespace entry, or nothing); in `run` again
    when given (the same socket: an engine coming back); returns once it answers: (process, url,
    log)."""
    import tempfile

    import docker

    require(shutil.which("dockerd") is not None, "dockerd (docker.io)")
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "polysource" / cache_name
    stop_stale_dockerd(cache)
    release_dead_namespaces()
    cache.mkdir(parents=True, exist_ok=True)
    run = run or Path(tempfile.mkdtemp(prefix="psd-", dir="/tmp"))  # short: socket paths are limited
    url = f"unix://{run}/docker.sock"
    log_path = run / "dockerd.log"
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            [
                *prefix,
                "dockerd",
                "--host",
                url,
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
            return bool(docker.DockerClient(base_url=url).ping())
        except Exception:
            return process.poll() is not None

    wait_for(up, 60, what)
    assert process.poll() is None, log_path.read_text()[-2000:]
    return process, url, log_path


@dataclass
class DockerEngine:
    """dockerd on its own socket and folders; its data root is cached so images are reused."""

    process: subprocess.Popen | None = None
    url: str = ""

    def start(self) -> "DockerEngine":
        self.process, self.url, self.log = launch_dockerd("docker", [], "dockerd")
        return self

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(30)

    @property
    def run(self) -> Path:
        return Path(self.url.removeprefix("unix://")).parent

    def power_cut(self, down_s: float = 3) -> None:
        """As the Pi losing power: SIGKILL for dockerd, its containerd, every shim and every
        container process at once, nothing flushed or stopped; then the engine starts again on
        the same socket, and its restart policies bring the containers back."""
        assert self.process is not None
        mine = str(self.run).encode()
        roots = [p for p in _processes() if mine in p[2]]  # dockerd, containerd, the shims
        children: dict[int, list[int]] = {}
        for pid, parent, _ in _processes():
            children.setdefault(parent, []).append(pid)
        doomed, todo = set(), [pid for pid, _, _ in roots]
        while todo:
            pid = todo.pop()
            if pid not in doomed:
                doomed.add(pid)
                todo += children.get(pid, [])
        for pid in doomed:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.process.wait(10)
        time.sleep(down_s)
        self.process, _, self.log = launch_dockerd("docker", [], "dockerd after the power cut", self.run)

    def restart(self) -> None:
        """As a clean shutdown and boot of the Pi: dockerd stops its containers (SIGTERM), then
        starts again on the same socket."""
        self.stop()
        self.process, _, self.log = launch_dockerd("docker", [], "dockerd after a restart", self.run)


def _processes() -> list[tuple[int, int, bytes]]:
    """(pid, parent pid, command line) of every process."""
    found = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            stat = (proc / "stat").read_text()
            command = (proc / "cmdline").read_bytes()
        except OSError:
            continue
        found.append((int(proc.name), int(stat.rpartition(")")[2].split()[1]), command))
    return found


@dataclass
class NetnsDockerd:
    """A second Docker Engine on this machine, as a second Pi would be: its own network namespace
    (a veth pair to the host, 10.99.0.2 <-> 10.99.0.1), its own hostname (UTS namespace), its own
    data root. Entered with nsenter, not `ip netns exec`: that remounts /sys and hides cgroups."""

    name: str = "psnodeb"
    hostname: str = "nodeb"
    host_address: str = "10.99.0.1"
    address: str = "10.99.0.2"
    process: subprocess.Popen | None = None
    url: str = ""

    def start(self) -> "NetnsDockerd":
        require(shutil.which("nsenter") is not None and shutil.which("ip") is not None, "nsenter and ip")
        self._network(remove_only=True)
        self._network()
        enter = [f"--net=/var/run/netns/{self.name}", "unshare", "--uts", "sh", "-c"]
        prefix = ["nsenter", *enter, f'hostname {self.hostname} && exec "$@"', "sh"]
        self.process, self.url, self.log = launch_dockerd("docker-nodeb", prefix, "the second dockerd")
        return self

    def _network(self, remove_only: bool = False) -> None:
        quiet = {"capture_output": True}
        subprocess.run(["ip", "netns", "del", self.name], **quiet)
        subprocess.run(["ip", "link", "del", f"{self.name}0"], **quiet)
        if remove_only:
            return
        steps = [
            ["ip", "netns", "add", self.name],
            ["ip", "link", "add", f"{self.name}0", "type", "veth", "peer", "name", f"{self.name}1"],
            ["ip", "link", "set", f"{self.name}1", "netns", self.name],
            ["ip", "addr", "add", f"{self.host_address}/24", "dev", f"{self.name}0"],
            ["ip", "link", "set", f"{self.name}0", "up"],
            ["ip", "-n", self.name, "addr", "add", f"{self.address}/24", "dev", f"{self.name}1"],
            ["ip", "-n", self.name, "link", "set", f"{self.name}1", "up"],
            ["ip", "-n", self.name, "link", "set", "lo", "up"],
        ]
        for step in steps:
            subprocess.run(step, check=True, **quiet)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(30)
        self._network(remove_only=True)


# --- OpenSSH server ---------------------------------------------------------------------------


@dataclass
class SshServer:
    """Debian's sshd on a loopback port: key auth only, a `pi` user in the docker group whose
    sessions reach the tests' dockerd, as `ssh pi@raspberrypi.local docker ...` would on a Pi."""

    folder: Path
    docker_url: str
    user: str = "pi"
    port: int = field(default_factory=free_port)
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"ssh://{self.user}@127.0.0.1:{self.port}"

    @property
    def home(self) -> Path:
        """Use as HOME: ~/.ssh with the test key, known_hosts and a config, as on a laptop."""
        return self.folder / "home"

    def start(self) -> "SshServer":
        require(Path("/usr/sbin/sshd").exists(), "sshd (openssh-server)")
        require(shutil.which("docker") is not None, "the docker CLI (docker.io)")
        self._user()
        run = lambda *args: subprocess.run(args, check=True, capture_output=True)  # noqa: E731
        run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(self.folder / "host_key"))
        run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(self.folder / "client_key"))
        home = Path(
            subprocess.run(["getent", "passwd", self.user], capture_output=True, text=True).stdout.split(":")[
                5
            ]
        )
        ssh_dir = home / ".ssh"
        ssh_dir.mkdir(mode=0o700, exist_ok=True)
        keys = ssh_dir / "authorized_keys"  # where a Pi keeps them, read by sshd as the user
        keys.write_text((self.folder / "client_key.pub").read_text())
        keys.chmod(0o600)
        shutil.chown(ssh_dir, self.user, self.user)
        shutil.chown(keys, self.user, self.user)
        host_key = (self.folder / "host_key.pub").read_text().split()
        (self.folder / "known_hosts").write_text(f"[127.0.0.1]:{self.port} {host_key[0]} {host_key[1]}\n")
        socket_dir = Path(self.docker_url.removeprefix("unix://")).parent
        socket_dir.chmod(0o755)  # the pi user reaches the socket through its group, as on a Pi
        config = self.folder / "sshd_config"
        config.write_text(
            f"Port {self.port}\nListenAddress 127.0.0.1\nHostKey {self.folder / 'host_key'}\n"
            f"PidFile {self.folder / 'sshd.pid'}\nAuthorizedKeysFile .ssh/authorized_keys\n"
            "PasswordAuthentication no\nKbdInteractiveAuthentication no\nPubkeyAuthentication yes\n"
            f"UsePAM no\nSetEnv DOCKER_HOST={self.docker_url}\nLogLevel VERBOSE\n"
        )
        Path("/run/sshd").mkdir(exist_ok=True)
        log = open(self.folder / "sshd.log", "ab")  # noqa: SIM115 - lives as long as the process
        self.process = subprocess.Popen(
            ["/usr/sbin/sshd", "-D", "-e", "-f", str(config)], stdout=log, stderr=log
        )
        laptop = self.home / ".ssh"
        laptop.mkdir(parents=True, mode=0o700)
        shutil.copy(self.folder / "client_key", laptop / "id_ed25519")
        shutil.copy(self.folder / "known_hosts", laptop / "known_hosts")
        (laptop / "config").write_text(f"Host 127.0.0.1\n  IdentityFile {laptop / 'id_ed25519'}\n")
        wait_for(lambda: port_open(self.port), 10, "sshd")
        return self

    def _user(self) -> None:
        if subprocess.run(["getent", "group", "docker"], capture_output=True).returncode != 0:
            subprocess.run(["groupadd", "docker"], check=True)
        if subprocess.run(["id", self.user], capture_output=True).returncode != 0:
            subprocess.run(["useradd", "-m", "-s", "/bin/bash", "-G", "docker", self.user], check=True)
        subprocess.run(["usermod", "-aG", "docker", self.user], check=True)
        subprocess.run(["usermod", "-p", "*", self.user], check=True)  # no password login, not locked: keys

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)


# --- a TLS front that refuses a wrong server name ---------------------------------------------------


class SniFront:
    """Terminates TLS (a certificate from the test CA) and refuses any server name but `expect`
    (alert unrecognized_name), as HiveMQ Cloud's edge needs SNI; then carries the bytes to a
    broker's plain listener."""

    def __init__(
        self, certs: Certificates, target_port: int, hostname: str = "localhost", expect: str | None = None
    ):
        import threading

        cert, key = certs.server(f"front-{target_port}-{hostname}", hostname)
        self.created = time.time()  # its certificate's notBefore, to the second
        self.expect = expect or hostname
        self.context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.context.minimum_version = ssl.TLSVersion.TLSv1_2
        self.context.load_cert_chain(cert, key)
        self.context.sni_callback = self._sni
        self.names: list[str | None] = []
        self.target_port = target_port
        self.accepted = 0  # TCP connections the front took (a board's connection attempts)
        self.down = False  # coverage lost: connections carried are cut, new ones closed at once
        self.carried: list[socket.socket] = []
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _sni(self, connection, name, context):
        self.names.append(name)
        return None if name == self.expect else ssl.ALERT_DESCRIPTION_UNRECOGNIZED_NAME

    def _serve(self) -> None:
        import threading

        while True:
            try:
                raw, _ = self.server.accept()
            except OSError:
                return
            self.accepted += 1
            if self.down:
                raw.close()
                continue
            threading.Thread(target=self._carry, args=(raw,), daemon=True).start()

    def cut(self) -> None:
        """Coverage lost: every connection through the front drops, and new ones are refused."""
        self.down = True
        for raw in self.carried:
            with contextlib.suppress(OSError):
                raw.shutdown(socket.SHUT_RDWR)
        self.carried.clear()

    def restore(self) -> None:
        self.down = False

    def _carry(self, raw) -> None:
        import threading

        try:
            tls = self.context.wrap_socket(raw, server_side=True)
        except (OSError, ssl.SSLError):
            raw.close()
            return
        try:
            broker = socket.create_connection(("127.0.0.1", self.target_port))
        except OSError:  # the broker is down: the board's connection ends, as at a real edge
            tls.close()
            return
        self.carried += [tls, broker]

        def pump(source, sink) -> None:
            try:
                while chunk := source.recv(4096):
                    sink.sendall(chunk)
            except OSError:
                pass
            finally:
                for end in (source, sink):
                    with contextlib.suppress(OSError):
                        end.close()

        threading.Thread(target=pump, args=(broker, tls), daemon=True).start()
        pump(tls, broker)

    def stop(self) -> None:
        self.server.close()


@dataclass
class RenderedMosquitto:
    """The managed broker's own rendered mosquitto.conf, run by the real Mosquitto outside Docker:
    only the container's paths and port are moved into `folder` (the file is otherwise as written;
    its acl_file is the rendered one, beside it; its certificate and key, with TLS, are those
    polysource.pki issued, as deploy hands them over)."""

    config: Path  # output/mosquitto/mosquitto.conf
    folder: Path
    accounts: dict[str, str]  # user -> password, as deploy writes them into the password file
    port: int = field(default_factory=free_port)
    process: subprocess.Popen | None = None
    tls: "tuple[Path, Path] | None" = None  # (certificate, key) files, for a broker with TLS
    websocket_port: int | None = None  # where its websockets listener goes, when it has one

    def start(self) -> "RenderedMosquitto":
        from polysource.stack import paths

        passwd = self.folder / "passwd"
        for i, (user, password) in enumerate(self.accounts.items()):
            create = ["-c"] if i == 0 else []
            subprocess.run(
                [mosquitto_tool("mosquitto_passwd"), *create, "-b", str(passwd), user, password],
                check=True,
                capture_output=True,
            )
        text = self.config.read_text()
        listener = f"listener {paths.MQTT_TLS_PORT if self.tls else paths.MQTT_PORT}\n"
        assert listener in text and paths.MOSQUITTO_PASSWD in text and paths.MOSQUITTO_DATA in text
        if self.tls:
            assert paths.MOSQUITTO_CERT in text and paths.MOSQUITTO_KEY in text
            text = text.replace(paths.MOSQUITTO_CERT, str(self.tls[0])).replace(
                paths.MOSQUITTO_KEY, str(self.tls[1])
            )
        for inside in (paths.MQTT_WSS_PORT, paths.MQTT_WS_PORT):
            if f"listener {inside}\n" in text:
                assert self.websocket_port, "a websockets listener: give it a port"
                text = text.replace(f"listener {inside}\n", f"listener {self.websocket_port} 127.0.0.1\n")
        text = (
            text.replace(listener, f"listener {self.port} 127.0.0.1\n")
            .replace(paths.MOSQUITTO_PASSWD, str(passwd))
            .replace(paths.MOSQUITTO_ACL_INSIDE, str(self.config.parent / "acl"))
            .replace(paths.MOSQUITTO_DATA, str(self.folder / "data"))
        )
        (self.folder / "data").mkdir(exist_ok=True)
        moved = self.folder / "mosquitto.conf"
        moved.write_text("user root\n" + text)
        log = open(self.folder / "mosquitto.log", "ab")  # noqa: SIM115 - lives as long as the process
        self.process = subprocess.Popen(
            [mosquitto_tool("mosquitto"), "-c", str(moved)], stdout=log, stderr=subprocess.STDOUT
        )
        wait_for(lambda: port_open(self.port), 10, "the rendered mosquitto.conf")
        return self

    def kill(self) -> None:
        """As a power cut would: no last save of its database."""
        killed(self.process)

    @property
    def ca(self) -> Path | None:
        """The CA file render wrote beside the config (the stack's own), with TLS."""
        return self.config.parent / "ca.pem" if self.tls else None

    def client(self, user: str, password: str, client_id: str) -> Any:
        """A connected client to `localhost`, a name the certificate is for (see board_client)."""
        return board_client(user, password, client_id, "localhost", self.port, self.ca)

    def subscriptions(self, client_id: str) -> int:
        log = self.folder / "mosquitto.log"
        text = log.read_text(errors="replace") if log.exists() else ""
        # log_type subscribe (the rendered file's): "<time>: <client id> <qos> <filter>"
        return sum(line.partition(": ")[2].startswith(f"{client_id} ") for line in text.splitlines())

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)
