"""`polysource watch`: Docker's view of the stack's containers (restarts, running, health, a
start after a kill),
written into InfluxDB beside what Telegraf gathers of the Pi, for the "Pi" dashboard and the
restart-loop alert rule.

It runs where polysource already talks to Docker (a systemd timer, every minute: render writes
it), not in Telegraf: Docker's socket is root on the Pi, and Telegraf parses what arrives from
the internet broker. Lines go in through the image's own `influx` CLI, with Telegraf's account
(v1) or the token (v2) in the exec's environment, as everything else reaches InfluxDB.
"""

from polysource.errors import DeployError, EngineError, InfluxError
from polysource.runtime.containers import Containers
from polysource.runtime.engine import Box
from polysource.runtime.influx import Exec, influx_box
from polysource.runtime.lifecycle import unclean_stop
from polysource.secrets import SecretValues
from polysource.services import Lifecycle
from polysource.stack import Stack, host, paths
from polysource.stack.model import InfluxFacts

# v1: the CLI's import mode (its own /write), the lines from the environment; v2: `influx write`.
INFLUX1_IMPORT = (
    'f=$(mktemp) && printf "# DML\\n# CONTEXT-DATABASE: %s\\n%s\\n" "$POLYSOURCE_DB" "$POLYSOURCE_LINES"'
    ' > "$f" && influx -host "$HOSTNAME" -port {port} -import -path "$f" -precision s;'
    ' s=$?; rm -f "$f"; exit $s'
)
INFLUX2_WRITE = (
    'printf "%s\\n" "$POLYSOURCE_LINES" | influx write --org "$POLYSOURCE_ORG" --bucket "$POLYSOURCE_DB"'
    ' --precision s --host "http://$HOSTNAME:{port}"'
)


def tag_value(text: str) -> str:
    """A line-protocol tag value: commas, equals signs and spaces escaped."""
    return text.replace("\\", "\\\\").replace(",", "\\,").replace("=", "\\=").replace(" ", "\\ ")


def container_lines(boxes: dict[str, Box], now: int, lifecycles: dict[str, Lifecycle | None]) -> list[str]:
    """One line per service container: restarts (Docker's count since it was created: a power
    cut sets it back to 0), whether it runs, whether its healthcheck passes (1 when it has none
    and runs), and whether this run followed a kill (runtime/lifecycle.py: a power cut)."""
    lines = []
    for service, box in sorted(boxes.items()):
        state = box.state
        running = int(state.get("Status") == "running")
        health = (state.get("Health") or {}).get("Status")
        healthy = int(running and health in (None, "healthy"))
        restarts = int(box.attrs.get("RestartCount", 0))
        killed = int(bool(unclean_stop(box, lifecycles.get(service))))
        fields = f"restarts={restarts}i,running={running}i,healthy={healthy}i,killed={killed}i"
        lines.append(f"{host.CONTAINERS},service={tag_value(service)} {fields} {now}")
    return lines


def write_lines(box: Exec, influx: InfluxFacts, values: SecretValues, lines: list[str]) -> None:
    """Line protocol into the stack's database (or bucket) with the writer's credential."""
    env = {"POLYSOURCE_LINES": "\n".join(lines), "POLYSOURCE_DB": influx.database}
    if influx.version == 1:
        env |= {
            "INFLUX_USERNAME": str(values.text(influx.writer.user)),
            "INFLUX_PASSWORD": values[influx.writer.password],
        }
        command = INFLUX1_IMPORT.format(port=paths.INFLUX_PORT)
    else:
        env |= {"POLYSOURCE_ORG": influx.organization, "INFLUX_TOKEN": values[influx.writer.password]}
        command = INFLUX2_WRITE.format(port=paths.INFLUX_PORT)
    try:
        code, output = box.run(["sh", "-c", command], env)
    except EngineError as error:
        raise InfluxError(f"cannot write in the influxdb container: {error}") from None
    if code != 0:  # the v1 importer exits 1 when any line was not inserted
        raise InfluxError(f"InfluxDB refused the write: {output.strip()[-300:] or f'exit {code}'}")


def watch(containers: Containers, stack: Stack, values: SecretValues, now: int) -> list[str]:
    """Record the containers once; the lines written."""
    if stack.docker.swarm:
        raise DeployError("watch reads one Docker host's containers; a swarm's tasks are not recorded yet")
    lifecycles = {service.name: service.lifecycle for service in stack.services}
    lines = container_lines(containers.all(), now, lifecycles)
    write_lines(influx_box(containers), stack.influx, values, lines)
    return lines
