"""`polysource watch`: Docker's view of the stack's containers (restarts, running, health, a
start after a kill),
written into InfluxDB beside what Telegraf gathers of the Pi, for the "Pi" dashboard and the
restart-loop alert rule.

It runs where polysource already talks to Docker (a systemd timer, every minute: render writes
it), not in Telegraf: Docker's socket is root on the Pi, and Telegraf parses what arrives from
the internet broker. Lines go in through the image's own `influx` CLI, with Telegraf's account
(v1) or the token (v2) in the exec's environment, as everything else reaches InfluxDB.
"""

from dataclasses import dataclass

from polysource.errors import EngineError, InfluxError
from polysource.runtime.containers import Containers, OnSwarm, ended_alone, running_task
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


@dataclass(frozen=True)
class Seen:
    """One service as Docker shows it: restarts, whether it runs, whether its healthcheck passes
    (true when it has none and runs), whether this run followed a kill (a power cut)."""

    restarts: int
    running: bool
    healthy: bool
    killed: bool


def seen_on_host(boxes: dict[str, Box], lifecycles: dict[str, Lifecycle | None]) -> dict[str, Seen]:
    """Each container: restarts are Docker's count since it was created (a power cut sets it
    back to 0); a kill is read from the service's own lines (runtime/lifecycle.py)."""
    seen = {}
    for service, box in boxes.items():
        running = box.state.get("Status") == "running"
        seen[service] = Seen(
            restarts=int(box.attrs.get("RestartCount", 0)),
            running=running,
            healthy=running and box.health in (None, "healthy"),
            killed=bool(unclean_stop(box, lifecycles.get(service))),
        )
    return seen


def seen_on_swarm(swarm: OnSwarm, lifecycles: dict[str, Lifecycle | None]) -> dict[str, Seen]:
    """Each service's running task: a swarm replaces a task that ended instead of restarting its
    container, so restarts are the service's tasks that ended on their own in the swarm's task
    history (it keeps the last 5 per slot: a restart loop shows in its first minutes), and a
    kill is read from the task it took over from. A task on a node out of reach is left out."""
    seen = {}
    for service, attrs in swarm.api.services(swarm.project).items():
        tasks = swarm.api.tasks(attrs["ID"])
        restarts = sum(ended_alone(t) for t in tasks)
        task = running_task(swarm.api, attrs["ID"], tasks)
        if task is None:
            seen[service] = Seen(restarts, running=False, healthy=False, killed=False)
            continue
        try:
            box = swarm.task_box(task)
        except EngineError:
            continue
        running = box.status == "running"
        lifecycle = lifecycles.get(service)
        ended = swarm.took_over(lifecycle, task, tasks) if lifecycle else None
        killed = ended is not None and ended.how == "killed"
        seen[service] = Seen(restarts, running, running and box.health in (None, "healthy"), killed)
    return seen


def container_lines(seen: dict[str, Seen], now: int) -> list[str]:
    """One line per service, for the "Pi" dashboard and the restart-loop alert rule."""
    lines = []
    for service, one in sorted(seen.items()):
        fields = (
            f"restarts={one.restarts}i,running={int(one.running)}i,"
            f"healthy={int(one.healthy)}i,killed={int(one.killed)}i"
        )
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
    """Record the containers once (one host, or each service's running task on a swarm); the
    lines written."""
    lifecycles = {service.name: service.lifecycle for service in stack.services}
    if isinstance(containers, OnSwarm):
        seen = seen_on_swarm(containers, lifecycles)
    else:
        seen = seen_on_host(containers.all(), lifecycles)
    lines = container_lines(seen, now)
    write_lines(influx_box(containers), stack.influx, values, lines)
    return lines
