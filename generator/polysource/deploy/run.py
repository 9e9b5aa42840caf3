"""One Docker host: plan, deploy and status of its containers (deploy.executor's OnOneHost)."""

import datetime
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from polysource import secrets
from polysource.deploy import apply
from polysource.deploy.apply import Converging, Echo
from polysource.deploy.converge import convergers
from polysource.deploy.converge.record import Desired, blockers, desired_state, read_record
from polysource.deploy.plan import Action, differences, make_plan, stopping_line
from polysource.deploy.spec import ContainerSpec, desired_containers
from polysource.errors import DeployError, PolysourceError
from polysource.inventory.model import TELEGRAF_SECRET_REFERENCE
from polysource.pipeline import current_files, load_stack
from polysource.runtime.engine import Box, Engine, connect
from polysource.runtime.lifecycle import unclean_stop
from polysource.secrets import SecretValues
from polysource.services import is_telegraf
from polysource.stack import Stack
from polysource.stack.paths import STATE_FILE

if TYPE_CHECKING:
    from polysource.pki import Issued
    from polysource.runtime.containers import Containers


@dataclass
class Target:
    stack: Stack
    specs: list[ContainerSpec]
    engine: Engine
    values: SecretValues
    issued: "Issued | None" = None  # the managed broker's certificate, when it has TLS

    @property
    def desired(self) -> dict[str, Desired]:
        return desired_state(self.stack, self.values) if self.values else {}


def prepare(
    inventory: Path, output: Path, host: str | None, full: bool = True, renew: bool = False
) -> Target:
    """Everything checked before any change: output/ current, secrets present, daemon reachable.

    full=False (down, logs) needs only the project name and the daemon. renew=True (deploy)
    saves the managed broker's new certificate when one was due; otherwise one due is made for
    the plan only.
    """
    stack = load_stack(inventory)
    url = host or stack.docker.host
    if not full:
        return Target(stack, [], connect(url), SecretValues({}))
    files, stale = current_files(stack, output)
    if stale:
        raise DeployError(
            f"{output} is not what {inventory} renders to ({', '.join(stale[:5])}): "
            "run `polysource render` and review the diff first; nothing was changed"
        )
    values, issued = secret_values(stack, renew)
    engine = connect(url)
    return Target(stack, desired_containers(stack, files, values), engine, values, issued)


def secret_values(stack: Stack, renew: bool = False) -> "tuple[SecretValues, Issued | None]":
    """What the containers are given: the user's secrets (environment, then .env), checked, and
    the managed broker's certificate and key (polysource.pki), kept or issued when due (saved
    only when renew)."""
    values = secrets.resolve(stack.secrets, stack.inventory_dir)
    check_secret_values(stack, values)
    broker = stack.managed_broker
    if broker is None or broker.tls is None:
        return values, None
    from polysource import pki  # cryptography: only for a managed broker with TLS

    issued = pki.server_certificate(broker.tls, datetime.datetime.now(datetime.UTC), renew)
    return values.with_values({broker.tls.cert: issued.cert_pem, broker.tls.key: issued.key_pem}), issued


GRAFANA_MIN_PASSWORD = 4  # grafana cli refuses a shorter one ("new password is too short")


def check_secret_values(stack: Stack, values: SecretValues) -> None:
    """Values the services cannot take, found before anything changes (never shown)."""
    problems = []
    if stack.influx.version == 2 and len(values[stack.influx.admin.password]) < 8:
        problems.append(f"{stack.influx.admin.password.var}: InfluxDB 2 wants 8 characters or more")
    if len(values[stack.grafana.admin.password]) < GRAFANA_MIN_PASSWORD:
        problems.append(
            f"{stack.grafana.admin.password.var}: Grafana wants {GRAFANA_MIN_PASSWORD} characters or more"
        )
    telegrafs = {
        secret for service in stack.services if is_telegraf(service.name) for secret in service.secrets
    }
    for secret in sorted(telegrafs, key=lambda s: s.var):  # Telegraf reads @{a:b} as a secret-store reference
        if TELEGRAF_SECRET_REFERENCE.search(values[secret]):
            problems.append(
                f"{secret.var}: holds @{{...:...}}, which Telegraf reads as a secret-store reference "
                "(it has no escape)"
            )
    broker = stack.managed_broker
    if broker and broker.credential:
        for secret in [broker.credential.password, *broker.device_accounts.values()]:
            if "\n" in values[secret] or "\r" in values[secret]:
                problems.append(f"{secret.var}: a Mosquitto password cannot hold a line break")
            if ":" in values[secret]:  # mosquitto_passwd -U cuts user:password lines at each ':'
                problems.append(
                    f"{secret.var}: a Mosquitto password cannot hold ':' (mosquitto_passwd cuts it)"
                )
    if problems:
        raise DeployError("unusable secret values: " + "; ".join(problems) + "; nothing was changed")


def _read_record(target: Target, existing: dict[str, Box], name: str) -> dict[str, Any] | None:
    """What converge last recorded in the service's data volume."""
    desired = target.desired[name]
    spec = next(s for s in target.specs if s.service.name == name)
    box = existing.get(name)
    if box is not None:
        return read_record(box.read_file(f"{desired.data_path}/{STATE_FILE}"))
    mount = next(m for m in spec.service.mounts if m.target == desired.data_path)
    return read_record(apply.read_volume_file(target.engine, spec, spec.volume_name(mount), STATE_FILE))


def _recorded(target: Target, existing: dict[str, Box]) -> dict[str, dict[str, Any] | None]:
    """Each stateful service's record, read in parallel (each read is a ~0.1 s archive call)."""
    names = [n for n in target.desired if any(s.service.name == n for s in target.specs)]
    with ThreadPoolExecutor(max_workers=4) as pool:
        return dict(zip(names, pool.map(lambda n: _read_record(target, existing, n), names), strict=True))


def plan(target: Target) -> tuple[list[Action], dict[str, dict[str, Any] | None]]:
    existing = target.engine.services(target.stack.name)
    deployed = [spec for spec in target.specs if spec.service.name in existing]
    with ThreadPoolExecutor(max_workers=4) as pool:
        read = pool.submit(_recorded, target, existing)
        files = pool.map(lambda spec: apply.deployed_live_files(existing[spec.service.name], spec), deployed)
        live = dict(zip((spec.service.name for spec in deployed), files, strict=True))
        recorded = read.result()
    actions = make_plan(target.specs, existing, live, target.desired, recorded)
    return actions, recorded


def quiet_first(stack: Stack, actions: list[Action]) -> list[Action]:
    """Telegraf, stopped before InfluxDB's converge changes the account it writes with.

    Its InfluxDB output drops (and acknowledges) a batch refused with 401: an old Telegraf
    writing with the old password after the change would lose readings. Stopped, it leaves them
    queued at the broker, in its persistent session, until the new one starts.
    """
    influx = next((a for a in actions if a.service == "influxdb"), None)
    writer = f"password of user {stack.influx.writer.user}"
    if influx is None or not (influx.recheck or writer in influx.converge or influx.replaces):
        return []
    return [
        a
        for a in actions
        if is_telegraf(a.service) and a.verb == "recreate" and a.container.status == "running"
    ]


def check_blockers(target: Target, recorded: dict[str, dict[str, Any] | None]) -> list[str]:
    return [
        line for name, desired in target.desired.items() for line in blockers(desired, recorded.get(name))
    ]


def deploy(
    target: Target,
    actions: list[Action],
    recorded: dict[str, dict[str, Any] | None],
    timeout: float,
    echo: Echo,
) -> None:
    if found := check_blockers(target, recorded):
        raise DeployError("\n".join(found) + "\nnothing was changed")
    engine, specs = target.engine, target.specs
    if not any(a.changes for a in actions):
        return
    project = target.stack.name
    network = apply.ensure_network(engine, project)
    apply.ensure_data_volumes(engine, specs)
    apply.ensure_images(engine, specs, target.stack.docker.platform, echo)
    apply.ensure_config_volumes(engine, [a.spec for a in actions if a.spec and a.changes])
    how = convergers(target.stack, target.values)
    desired = target.desired
    for action in quiet_first(target.stack, actions):
        echo(stopping_line(action.service))
        action.container.stop(timeout=30)
    for wave in apply.waves(actions):
        steps, errors = [], []
        for action in wave:
            for line in action.lines():
                echo(line)
            try:
                steps.append(apply.begin(engine, action, network))
            except PolysourceError as error:  # the wave's other steps still finish or roll back
                errors.append(str(error))
        for step in steps:
            name = step.action.service
            converging = None
            if name in how and name in desired:
                record = None if step.action.recheck else recorded.get(name)
                converging = Converging(how[name], desired[name], record)
            try:
                apply.finish(step, timeout, converging, echo)
            except PolysourceError as error:
                errors.append(str(error))
        if errors:
            raise DeployError("\n".join(errors))
    apply.remove_unused_config_volumes(engine, project)


@dataclass
class Row:
    service: str
    image: str
    state: str
    health: str
    current: str
    note: str = ""


NOT_READY = {
    "telegraf": "readings pile up: InfluxDB does not answer (polysource logs telegraf)",
    "influxdb": "not ready: the database is missing or Telegraf's account is refused (deploy converges it)",
}
SILENT_WRITER_S = 35.0  # Telegraf writes its own statistics every 10 s


def writer_note(target: Target, containers: "Containers") -> str:
    """Whether Telegraf's writes reach InfluxDB, from its heartbeat there (read as Grafana does).

    Telegraf's InfluxDB output drops a batch InfluxDB answers with a 4xx (a refused password, a
    missing database) and counts it written; only its heartbeat going stale tells.
    """
    from polysource.errors import InfluxError
    from polysource.runtime.influx import last_write, reader_on

    try:
        last = last_write(reader_on(containers, target.stack, target.values))
    except InfluxError as error:
        return f"cannot tell whether it writes: {error}"
    now = time.time()
    if last is None:
        return "running but not writing: none of its writes reached InfluxDB in the last hour"
    if now - last > SILENT_WRITER_S:
        return (
            f"running but not writing: its last write reached InfluxDB {now - last:.0f} s ago "
            "(refused writes are dropped; polysource logs telegraf)"
        )
    return ""


def status(target: Target, containers: "Containers") -> list[Row]:
    existing = containers.all()
    recorded = _recorded(target, existing)
    desired = target.desired
    rows = []
    for spec in target.specs:
        name = spec.service.name
        box = existing.get(name)
        if box is None:
            rows.append(Row(name, spec.service.image, "missing", "-", "no", "not deployed"))
            continue
        state = box.state
        health = box.health or "-"
        current = "no" if differences(spec, box.labels) else "yes"
        note = (
            NOT_READY.get("telegraf" if is_telegraf(name) else name, "not ready")
            if health == "unhealthy"
            else ""
        )
        if is_telegraf(name) and not note and state.get("Status") == "running":
            note = writer_note(target, containers)
        if name in desired and (pending := _pending(desired[name], recorded.get(name))):
            current, note = "no", f"settings not converged ({pending}): run polysource deploy"
        restarts = int(box.attrs.get("RestartCount", 0))
        restarted = f"restarted {restarts} time(s): polysource logs {name}" if restarts else ""
        note = "; ".join(filter(None, [note, restarted, unclean_stop(box, spec.service.lifecycle)]))
        rows.append(
            Row(
                name, box.labels.get("polysource.image", "?"), str(state.get("Status")), health, current, note
            )
        )
    return rows


def _pending(desired: Desired, recorded: dict[str, Any] | None) -> str:
    from polysource.deploy.converge.record import changes

    return "; ".join(changes(desired, recorded))
