"""The stack model: which services run, from which images, with which files and secrets.

Render turns it into docker-compose.yml; deploy turns the same objects into Docker SDK calls.
Config files are named by their path inside output/; their contents come from the renderers.
"""

from dataclasses import dataclass, field
from pathlib import Path

from polysource.images import check_platform
from polysource.inventory.model import Broker, Inventory

INFLUX_PORT = 8086
MQTT_PORT = 1883
TELEGRAF_HEALTH_PORT = 8080
CONFIG_ROOT = "/etc/telegraf"


@dataclass(frozen=True)
class Secret:
    """An environment variable whose value is read where it is used, never written out."""

    var: str

    @classmethod
    def of(cls, reference: str) -> "Secret":
        return cls(reference.removeprefix("${").removesuffix("}"))


EnvValue = str | Secret


@dataclass(frozen=True)
class Mount:
    """A config folder from output/ (read-only) or a named data volume."""

    target: str
    config: str | None = None  # folder inside output/
    volume: str | None = None
    read_only: bool = True
    live: bool = False  # the service re-reads this config folder itself: update it in place


@dataclass(frozen=True)
class Healthcheck:
    test: tuple[str, ...]
    interval: str = "5s"
    timeout: str = "5s"
    retries: int = 3
    start_period: str = "30s"


@dataclass(frozen=True)
class Service:
    name: str
    image: str
    command: tuple[str, ...] = ()
    environment: dict[str, EnvValue] = field(default_factory=dict)
    ports: tuple[tuple[int, int], ...] = ()  # (host, container)
    mounts: tuple[Mount, ...] = ()
    depends_on: dict[str, str] = field(default_factory=dict)  # service -> compose condition
    healthcheck: Healthcheck | None = None
    mem_limit: str = "128m"
    one_shot: bool = False  # runs to completion before its dependents start

    @property
    def restart(self) -> str:
        """Docker's restart policy: one-shot services must not be restarted."""
        return "no" if self.one_shot else "unless-stopped"

    @property
    def secrets(self) -> list[str]:
        return sorted({v.var for v in self.environment.values() if isinstance(v, Secret)})


@dataclass(frozen=True)
class Stack:
    inventory: Inventory
    inventory_dir: Path
    services: tuple[Service, ...]

    @property
    def name(self) -> str:
        return self.inventory.project

    @property
    def volumes(self) -> list[str]:
        return sorted({m.volume for s in self.services for m in s.mounts if m.volume})

    @property
    def secrets(self) -> list[str]:
        return sorted({var for s in self.services for var in s.secrets})

    @property
    def managed_broker(self) -> Broker | None:
        return managed_broker(self.inventory)


def managed_broker(inventory: Inventory) -> Broker | None:
    return next((b for b in inventory.brokers.values() if b.managed), None)


def build_stack(inventory: Inventory, inventory_dir: Path) -> Stack:
    """Every service the inventory implies, in dependency order."""
    services = [_influxdb(inventory)]
    managed = managed_broker(inventory)
    if managed:
        services += [_mosquitto_passwd(inventory, managed), _mosquitto(inventory, managed)]
    services += [_telegraf(inventory, managed is not None), _grafana(inventory)]
    return Stack(inventory, inventory_dir, tuple(services))


def _image(inventory: Inventory, service: str) -> str:
    target = inventory.target
    if service in target.images:
        return target.images[service]
    return check_platform(service, target.platform, inventory.storage.influxdb.version)


def _influxdb(inv: Inventory) -> Service:
    db = inv.storage.influxdb
    if db.version == 1:
        env: dict[str, EnvValue] = {
            "INFLUXDB_DB": db.database,
            "INFLUXDB_HTTP_AUTH_ENABLED": "true",
            "INFLUXDB_REPORTING_DISABLED": "true",
            "INFLUXDB_ADMIN_USER": db.admin_user,
            "INFLUXDB_ADMIN_PASSWORD": Secret.of(db.admin_password),
            "INFLUXDB_WRITE_USER": db.write_user,
            "INFLUXDB_WRITE_USER_PASSWORD": Secret.of(db.write_password),
            "INFLUXDB_READ_USER": db.read_user,
            "INFLUXDB_READ_USER_PASSWORD": Secret.of(db.read_password),
        }
        mounts = (
            Mount("/var/lib/influxdb", volume="influxdb-data", read_only=False),
            Mount("/docker-entrypoint-initdb.d", config="influxdb/init"),
        )
        health = ("CMD", "curl", "-fsS", f"http://localhost:{INFLUX_PORT}/ping")
    else:
        env = {
            "DOCKER_INFLUXDB_INIT_MODE": "setup",
            "DOCKER_INFLUXDB_INIT_USERNAME": db.admin_user,
            "DOCKER_INFLUXDB_INIT_PASSWORD": Secret.of(db.admin_password),
            "DOCKER_INFLUXDB_INIT_ORG": db.organization,
            "DOCKER_INFLUXDB_INIT_BUCKET": db.database,
            "DOCKER_INFLUXDB_INIT_RETENTION": "0s" if db.retention == "inf" else db.retention,
            "DOCKER_INFLUXDB_INIT_ADMIN_TOKEN": Secret.of(db.token),
        }
        mounts = (
            Mount("/var/lib/influxdb2", volume="influxdb-data", read_only=False),
            Mount("/etc/influxdb2", volume="influxdb-config", read_only=False),
        )
        health = ("CMD", "curl", "-fsS", f"http://localhost:{INFLUX_PORT}/health")
    return Service(
        name="influxdb",
        image=_image(inv, "influxdb"),
        environment=env,
        ports=((db.port, INFLUX_PORT),),
        mounts=mounts,
        healthcheck=Healthcheck(health),
        mem_limit="300m",
    )


PASSWD_FILE = "/mosquitto/auth/passwd"


def mosquitto_accounts(broker: Broker) -> list[tuple[str, str]]:
    """(user, password reference) for Telegraf first, then each device account."""
    assert broker.username and broker.password
    return [(broker.username, broker.password), *sorted(broker.clients.items())]


def _mosquitto_passwd(inv: Inventory, broker: Broker) -> Service:
    """Writes Mosquitto's password file into a volume at deploy time, from the secrets."""
    env: dict[str, EnvValue] = {}
    steps = []
    for i, (user, password) in enumerate(mosquitto_accounts(broker)):
        env[f"MQTT_USER_{i}"] = user
        env[f"MQTT_PASSWORD_{i}"] = Secret.of(password)
        create = " -c" if i == 0 else ""
        steps.append(f'mosquitto_passwd{create} -b {PASSWD_FILE} "$MQTT_USER_{i}" "$MQTT_PASSWORD_{i}"')
    steps += [f"chown 1883:1883 {PASSWD_FILE}", f"chmod 0600 {PASSWD_FILE}"]
    return Service(
        name="mosquitto-passwd",
        image=_image(inv, "mosquitto"),
        command=("sh", "-ec", " && ".join(steps)),
        environment=env,
        mounts=(Mount("/mosquitto/auth", volume="mosquitto-auth", read_only=False),),
        mem_limit="32m",
        one_shot=True,
    )


def _mosquitto(inv: Inventory, broker: Broker) -> Service:
    port = broker.effective_port
    assert broker.username and broker.password
    probe = (
        f'mosquitto_sub -p {MQTT_PORT} -u "$MQTT_HEALTH_USER" -P "$MQTT_HEALTH_PASSWORD" '
        "-t '$SYS/broker/uptime' -C 1 -W 5"
    )
    return Service(
        name="mosquitto",
        image=_image(inv, "mosquitto"),
        environment={
            "MQTT_HEALTH_USER": broker.username,
            "MQTT_HEALTH_PASSWORD": Secret.of(broker.password),
        },
        ports=((port, MQTT_PORT),),
        mounts=(
            Mount("/mosquitto/config", config="mosquitto"),
            Mount("/mosquitto/auth", volume="mosquitto-auth"),
            Mount("/mosquitto/data", volume="mosquitto-data", read_only=False),
        ),
        depends_on={"mosquitto-passwd": "service_completed_successfully"},
        healthcheck=Healthcheck(("CMD-SHELL", probe)),
        mem_limit="64m",
    )


def _telegraf(inv: Inventory, managed: bool) -> Service:
    env: dict[str, EnvValue] = {}
    for broker in inv.brokers.values():
        if broker.password:
            env[Secret.of(broker.password).var] = Secret.of(broker.password)
    db = inv.storage.influxdb
    ref = db.write_password if db.version == 1 else db.token
    env[Secret.of(ref).var] = Secret.of(ref)
    depends = {"influxdb": "service_healthy"}
    if managed:
        depends["mosquitto"] = "service_healthy"
    return Service(
        name="telegraf",
        image=_image(inv, "telegraf"),
        environment=dict(sorted(env.items())),
        mounts=(Mount(CONFIG_ROOT, config="telegraf"),),
        depends_on=depends,
        healthcheck=Healthcheck(
            ("CMD", "curl", "-fsS", f"http://localhost:{TELEGRAF_HEALTH_PORT}/"), start_period="10s"
        ),
        mem_limit="128m",
    )


def _grafana(inv: Inventory) -> Service:
    db = inv.storage.influxdb
    ref = db.read_password if db.version == 1 else db.token
    return Service(
        name="grafana",
        image=_image(inv, "grafana"),
        environment={
            "GF_SECURITY_ADMIN_USER": inv.grafana.admin_user,
            "GF_SECURITY_ADMIN_PASSWORD": Secret.of(inv.grafana.admin_password),
            "GF_AUTH_ANONYMOUS_ENABLED": "false",
            "GF_USERS_ALLOW_SIGN_UP": "false",
            "GF_ANALYTICS_REPORTING_ENABLED": "false",
            Secret.of(ref).var: Secret.of(ref),
        },
        ports=((inv.grafana.port, 3000),),
        mounts=(
            Mount("/var/lib/grafana", volume="grafana-data", read_only=False),
            Mount("/etc/grafana/provisioning", config="grafana/provisioning"),
            # The dashboard provider re-reads this folder every 30 s: no restart needed.
            Mount("/etc/grafana/dashboards", config="grafana/dashboards", live=True),
        ),
        depends_on={"influxdb": "service_healthy"},
        healthcheck=Healthcheck(("CMD", "wget", "-q", "-O", "/dev/null", "http://localhost:3000/api/health")),
        mem_limit="256m",
    )
