"""What the deploy tests do to a deployed stack: publish as a board, read InfluxDB, wait for
Telegraf's subscription, look at containers."""

import base64
import json
import time

import docker
import paho.mqtt.client as mqtt

from helpers import run_cli
from polysource.pipeline import load_stack
from polysource.runtime.engine import Box, pick_current
from polysource.runtime.influx import Influx1, Reader, influxql_rows
from polysource.secrets import Secret, SecretValues
from services import board_client, wait_for

SEED_READING = {"valeur": 99.9, "idCapteur": "Test_4G", "unite": "m"}


def client_for(project, url: str | None = None):
    return docker.DockerClient(base_url=url or load_stack(project.inventory).inventory.target.docker_host)


def containers(project, url: str | None = None) -> dict:
    """Each service's container as polysource's tools pick it: the running one, else the newest
    (a swarm leaves replaced tasks' containers behind)."""
    client = client_for(project, url)
    found = []
    for summary in client.api.containers(
        all=True, filters={"label": f"polysource.project={project.ports['project']}"}
    ):  # inspected one by one: a task's container the swarm removes in between is gone, not an error
        try:
            found.append(client.containers.get(summary["Id"]))
        except docker.errors.NotFound:
            continue
    by_id = {c.id: c for c in found}
    return {name: by_id[box.attrs["Id"]] for name, box in pick_current([Box(c) for c in found]).items()}


def container_ids(project, url: str | None = None) -> dict[str, str]:
    return {name: c.id for name, c in containers(project, url).items()}


def wait_subscribed(project, url: str | None = None, since: float = 0) -> None:
    """Telegraf subscribes after it connects and says nothing: the managed Mosquitto logs it."""
    stack = load_stack(project.inventory)
    client_ids = [c for s in stack.streams.values() for c in s.client_ids()]

    def subscribed() -> bool:
        broker = containers(project, url)["mosquitto"]
        text = broker.logs(since=int(since)).decode(errors="replace")
        return all(f": {client_id} 1 " in text for client_id in client_ids)

    try:
        wait_for(subscribed, 60, "Telegraf's subscription at the managed broker", interval=0.25)
    except AssertionError:
        for name in ("mosquitto", "telegraf"):
            print(f"--- {name}\n" + containers(project, url)[name].logs(tail=40).decode(errors="replace"))
        raise


def project_client(project, user: str, password: str, client_id: str, host: str | None = None) -> mqtt.Client:
    """A board's client to the deployed managed broker: at the boards' host by default, trusting
    the stack's CA (pki/ beside the inventory); plain MQTT with insecure_lan."""
    broker = load_stack(project.inventory).managed_broker
    assert broker is not None
    ca = broker.tls.folder / "ca.pem" if broker.tls else None
    return board_client(
        user, password, client_id, host or broker.endpoints[0].host, project.ports["mqtt"], ca
    )


def publish(
    project, payload: dict | str, user: str = "esp32", password: str | None = None, host: str | None = None
) -> None:
    password = password or project.secrets["MOSQUITTO_ESP32_PASSWORD"]
    client = project_client(project, user, password, f"board-{time.monotonic_ns()}", host)
    client.loop_start()
    try:
        body = payload if isinstance(payload, str) else json.dumps(payload)
        info = client.publish("polysource/capteurs", body, qos=1)
        info.wait_for_publish(10)
        assert info.is_published()
    finally:
        client.disconnect()
        client.loop_stop()


def influx(project, q: str, user: str = "admin", password: str | None = None) -> list[dict]:
    """Rows of an InfluxQL query on the deployed InfluxDB, run by the CLI in its container (the
    stack publishes no InfluxDB port); any error raises."""
    secret = password or project.secrets["INFLUXDB_ADMIN_PASSWORD"]
    database = project.ports.get("database", "polysource")
    box = Box(containers(project)["influxdb"])
    return influxql_rows({"results": Influx1(box, (user, secret), database).run([q])})


def flux(project, text: str) -> list[dict]:
    """Rows of a Flux query on the deployed InfluxDB 2, run as polysource's tools run it."""
    stack = load_stack(project.inventory)
    values = SecretValues({Secret("INFLUXDB_TOKEN"): project.secrets["INFLUXDB_TOKEN"]})
    return Reader(Box(containers(project)["influxdb"]), stack.dialect, values).query(text)


def readings(project, **login) -> list[dict]:
    return influx(project, 'SELECT * FROM "capteurs"', **login)


def wait_readings(project, count: int, timeout: float = 30, **login) -> list[dict]:
    try:
        wait_for(
            lambda: len(readings(project, **login)) >= count, timeout, f"{count} reading(s) in InfluxDB", 0.25
        )
    except AssertionError:
        for name, box in containers(project).items():
            print(f"--- {name}\n" + box.logs(tail=30).decode(errors="replace"))
        raise
    return readings(project, **login)


WRITE = (
    'printf "%s" "$LINES" | curl -fsS --data-binary @- -H "$AUTHORIZATION" '
    '"http://$HOSTNAME:8086/$WHERE&precision=$PRECISION"'
)


def write_lines(project, lines: list[str], precision: str = "ns") -> None:
    """Line protocol to the deployed InfluxDB (1 as its admin, 2 with the token), by curl in its
    container; returns once InfluxDB acknowledged the write (curl -f: a 2xx)."""
    if project.ports.get("influx_version", 1) == 1:
        login = base64.b64encode(f"admin:{project.secrets['INFLUXDB_ADMIN_PASSWORD']}".encode()).decode()
        where, authorization = "write?db=polysource", f"Authorization: Basic {login}"
    else:
        where = "api/v2/write?org=lab&bucket=polysource"
        authorization = f"Authorization: Token {project.secrets['INFLUXDB_TOKEN']}"
    box = containers(project)["influxdb"]
    for start in range(0, len(lines), 1000):  # an environment value holds at most 128 kB
        env = {
            "LINES": "\n".join(lines[start : start + 1000]),
            "AUTHORIZATION": authorization,
            "WHERE": where,
            "PRECISION": precision,
        }
        code, output = box.exec_run(["sh", "-c", WRITE], environment=env)
        assert code == 0, output


def deploy(project, *extra: str):
    """`polysource deploy` that must succeed: (when it started, click's result)."""
    started = time.time()
    result = run_cli(*project.args("deploy", "--timeout", "120", *extra))
    assert result.exit_code == 0, result.output
    return started, result


def watched(project, field: str) -> dict[str, int]:
    """A field of what `polysource watch` records per service (one-shot jobs left out)."""
    result = run_cli(*project.args("watch"))
    assert result.exit_code == 0, result.output
    found = {}
    for line in result.output.splitlines():
        if line.startswith("pi_container,service=") and "mosquitto-passwd" not in line:
            service = line.split(",service=")[1].split(" ")[0]
            found[service] = int(line.split(f"{field}=")[1].split("i")[0])
    return found
