"""Deploy to a Docker Swarm: the same stack, as swarm services across the nodes.

What changes from one host, and why:
- config files become swarm configs (content-addressed, immutable: a changed file is a new
  config, and the service rolls to it), except folders the service re-reads itself (Grafana's
  dashboards): those are a volume on the task's node, written in place as on one host, so a
  changed sensor replaces Telegraf's task only; secrets become swarm secrets, files in
  /run/secrets named after the variable the image reads; a small `sh` wrapper exports them
  before the image's own entrypoint, so no secret is in the service's definition;
- placement is by node label (target.swarm.placement); data volumes live on the node the
  service is placed on;
- updates roll one task at a time, the new task started before the old one stops where the
  service allows two at once (Telegraf: a second MQTT connection with the same client id takes
  the session over, so nothing queued is lost), stop-first where a data volume or a published
  port cannot be shared;
- InfluxDB and Grafana are converged (users, passwords, tiers) by exec into their task's
  container, on the manager or through target.swarm.nodes.
"""

import contextlib
import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from polysource.deploy import apply
from polysource.deploy.converge import convergers, previous_secrets
from polysource.deploy.converge.record import Desired, blockers, changes, desired_state, read_record
from polysource.deploy.plan import UNHEALTHY, live_changes, plan_lines, stopping_line
from polysource.deploy.spec import ContainerSpec, nanoseconds, short_hash
from polysource.errors import DeployError, EngineError
from polysource.runtime.containers import FAILED, OnSwarm, has_container, running_task
from polysource.runtime.engine import LABEL, Box, SwarmApi
from polysource.runtime.lifecycle import moment
from polysource.secrets import Secret, SecretValues
from polysource.services import is_telegraf
from polysource.stack import Stack
from polysource.stack.model import Service
from polysource.stack.paths import STATE_FILE

Echo = Callable[[str], None]
POLL_S = 0.25
MAX_FAILED_TASKS = 3
EXPORT_SECRETS = 'for f in /run/secrets/*; do [ -f "$f" ] && export "${f##*/}=$(cat "$f")"; done'


def network_name(project: str) -> str:
    return f"{project}_default"


def object_name(project: str, data: bytes) -> str:
    """Swarm configs and secrets are immutable: named after their content, at most 64 chars."""
    return f"{project[:30]}-{hashlib.sha256(data).hexdigest()[:32]}"


def placement(stack: Stack, service: str) -> dict[str, str]:
    swarm = stack.docker.swarm
    chosen = swarm.placement if swarm else {}
    if service in chosen:
        return chosen[service]
    if is_telegraf(service):
        return chosen.get("telegraf", {})
    if service == "mosquitto-passwd":  # it fills the broker's volume: same node
        return chosen.get("mosquitto", {})
    return {}


@dataclass(frozen=True)
class Node:
    """What placement needs of a swarm node."""

    hostname: str
    address: str
    labels: dict[str, str]

    @classmethod
    def of(cls, attrs: dict[str, Any]) -> "Node":
        return cls(
            hostname=attrs.get("Description", {}).get("Hostname", ""),
            address=attrs.get("Status", {}).get("Addr", ""),
            labels=attrs.get("Spec", {}).get("Labels") or {},
        )


def placement_problems(stack: Stack, nodes: list[Node]) -> list[str]:
    """On a swarm of several nodes: a service keeping data in a volume must be pinned (a volume
    lives on one node, and a task rescheduled elsewhere would start on an empty one); without
    the routing mesh, a service publishing a port answers only on its own node, so it must be
    pinned to the node boards and polysource reach (target.address), when the swarm says which
    node that is."""
    if len(nodes) < 2:
        return []
    swarm = stack.docker.swarm
    mesh = bool(swarm and swarm.mesh)
    found = []
    for service in stack.services:
        pinned = placement(stack, service.name)
        if service.one_shot:
            continue
        if any(m.volume and not m.read_only for m in service.mounts) and not pinned:
            found.append(
                f"{service.name}: keeps its data in a volume on the node it runs on; pin it "
                f"(target.swarm.placement.{service.name}: {{LABEL: VALUE}}) or a reschedule starts it on "
                "an empty volume"
            )
            continue
        if not service.ports or mesh:
            continue
        ports = ", ".join(str(p.host) for p in service.ports)
        if not pinned:
            found.append(
                f"{service.name}: publishes {ports} only on the node it runs on (no routing mesh) and "
                f"boards and polysource connect to {stack.target_host}; pin it to that node "
                f"(target.swarm.placement.{service.name}) or set target.swarm.mesh: true"
            )
            continue
        there = [n for n in nodes if stack.target_host in (n.hostname, n.address)]
        chosen = [n for n in nodes if pinned.items() <= n.labels.items()]
        if there and not any(n in chosen for n in there):
            found.append(
                f"{service.name}: pinned to {pinned}, which does not match node {there[0].hostname} "
                f"({stack.target_host}) where boards and polysource connect for port {ports}"
            )
    return found


def update_order(service: Service) -> str:
    return "start-first" if service.start_first else "stop-first"


def _bytes(size: str) -> int:
    units = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30}
    return int(size[:-1]) * units[size[-1].lower()] if size[-1].lower() in units else int(size)


@dataclass
class SwarmService:
    """One stack service as a swarm service: its definition and the fingerprint that names it."""

    spec: ContainerSpec
    definition: dict[str, Any]  # JSON-able: what the fingerprint covers
    configs: list[tuple[str, str, bytes]]  # (object name, path in the container, content)
    secrets: list[tuple[str, str, bytes]]  # (object name, file name in /run/secrets, value)

    @property
    def name(self) -> str:
        return self.spec.service.name

    @property
    def fingerprint(self) -> str:
        return short_hash(self.definition)


def swarm_services(stack: Stack, specs: list[ContainerSpec], values: SecretValues) -> list[SwarmService]:
    """The pure part: each service's definition, configs and secrets (tested without Docker)."""
    found = []
    for spec in specs:
        service = spec.service
        configs = [
            (object_name(stack.name, content), f"{volume.target}/{path}", content)
            for volume in spec.config_volumes
            if not volume.live
            for path, content in sorted(volume.files.items())
        ]
        live = [[v.target, v.name] for v in spec.config_volumes if v.live]
        secret_files = [
            (object_name(stack.name, values[v].encode()), key, values[v].encode())
            for key, v in sorted(service.environment.items())
            if isinstance(v, Secret)
        ]
        plain = {k: v for k, v in service.environment.items() if not isinstance(v, Secret)}
        test = list(service.healthcheck.test) if service.healthcheck else None
        if test and test[0] == "CMD-SHELL" and secret_files:
            test = ["CMD-SHELL", f"{EXPORT_SECRETS}; {test[1]}"]
        definition = {
            "image": service.image,
            "command": list(service.command),
            "env": dict(sorted(plain.items())),
            "volumes": [[m.target, spec.volume_name(m), m.read_only] for m in service.mounts if m.volume],
            "configs": [[name, path] for name, path, _ in configs],
            "secrets": [[name, key] for name, key, _ in secret_files],
            "ports": [[p.host, p.container] for p in service.ports],
            "constraints": [
                f"node.labels.{k}=={v}" for k, v in sorted(placement(stack, service.name).items())
            ],
            "order": update_order(service),
            "health": None
            if service.healthcheck is None
            else {
                "test": test,
                "interval": service.healthcheck.interval,
                "timeout": service.healthcheck.timeout,
                "retries": service.healthcheck.retries,
                "start_period": service.healthcheck.start_period,
            },
            "memory": service.mem_limit,
            "logging": [service.log_driver, service.log_options],
            "job": service.one_shot,
            "mesh": bool(stack.docker.swarm and stack.docker.swarm.mesh),
            **({"live": live} if live else {}),
        }
        found.append(SwarmService(spec, definition, configs, secret_files))
    return found


def _create_kwargs(item: SwarmService, api: SwarmApi, ids: dict[str, str]) -> dict[str, Any]:
    from docker.types import (
        ConfigReference,
        EndpointSpec,
        Healthcheck,
        Mount,
        NetworkAttachmentConfig,
        Resources,
        RestartPolicy,
        SecretReference,
        ServiceMode,
        UpdateConfig,
    )

    d = item.definition
    spec = item.spec
    labels = {f"{LABEL}.project": spec.project, f"{LABEL}.service": item.name}
    kwargs: dict[str, Any] = {
        "image": d["image"],
        "name": f"{spec.project}-{item.name}",
        "env": [f"{k}={v}" for k, v in d["env"].items()],
        "mounts": [
            Mount(target, source, type="volume", read_only=ro, labels={**labels, f"{LABEL}.role": "data"})
            for target, source, ro in d["volumes"]
        ]
        + [
            Mount(target, source, type="volume", read_only=True, labels={**labels, f"{LABEL}.role": "config"})
            for target, source in d.get("live", [])
        ],
        "configs": [ConfigReference(ids[name], name, filename=path) for name, path in d["configs"]],
        "secrets": [SecretReference(ids[name], name, filename=key) for name, key in d["secrets"]],
        "networks": [NetworkAttachmentConfig(network_name(spec.project), aliases=[item.name])],
        "constraints": d["constraints"],
        # Without the mesh: DNS round robin (no virtual IP, no IPVS) and ports bound on the node.
        "endpoint_spec": EndpointSpec(ports={host: inside for host, inside in d["ports"]})
        if d["mesh"]
        else EndpointSpec(mode="dnsrr", ports={host: (inside, "tcp", "host") for host, inside in d["ports"]}),
        "update_config": None
        if d["job"]  # a job is run again, not rolled
        else UpdateConfig(
            parallelism=1, order=d["order"], failure_action="rollback", monitor=nanoseconds("10s")
        ),
        "restart_policy": RestartPolicy(condition="none" if d["job"] else "any"),
        "mode": ServiceMode("replicated-job") if d["job"] else ServiceMode("replicated", replicas=1),
        "resources": Resources(mem_limit=_bytes(d["memory"])) if d["memory"] else None,
        "log_driver": d["logging"][0],
        "log_driver_options": d["logging"][1],
        "labels": {**labels, f"{LABEL}.settings": item.fingerprint},
        "container_labels": {**labels, f"{LABEL}.settings": item.fingerprint},
    }
    if d["health"]:
        h = d["health"]
        kwargs["healthcheck"] = Healthcheck(
            test=h["test"],
            interval=nanoseconds(h["interval"]),
            timeout=nanoseconds(h["timeout"]),
            retries=h["retries"],
            start_period=nanoseconds(h["start_period"]),
        )
    if d["secrets"]:  # the wrapper exports /run/secrets/* before the image's own entrypoint
        entrypoint, cmd = api.image_command(d["image"])
        kwargs["command"] = ["sh", "-c", f'{EXPORT_SECRETS}; exec "$@"', "polysource-secrets", *entrypoint]
        kwargs["args"] = d["command"] or cmd
    elif d["command"]:
        kwargs["args"] = d["command"]
    return kwargs


@dataclass
class SwarmAction:
    item: SwarmService
    verb: str  # create, update, keep
    service_id: str | None = None
    converge: list[str] = field(default_factory=list)  # stateful settings to make true, in words
    quiet: bool = False  # scaled to none before anything else: InfluxDB's account it writes with changes
    refresh: list[str] = field(default_factory=list)  # files of folders the running task re-reads

    def lines(self) -> list[str]:
        """As the single host's plan says them: the service's verb, then what converge changes."""
        if self.verb == "keep" and self.refresh:
            why = [f"re-read in place: {', '.join(self.refresh)}"]
            return plan_lines("update", self.item.name, why, self.converge)
        where = ", ".join(self.item.definition["constraints"]) or "any node"
        why = [f"{self.item.definition['order']}; on {where}"]
        return plan_lines(self.verb, self.item.name, why, self.converge)

    @property
    def changes(self) -> bool:
        return self.verb != "keep" or bool(self.converge) or bool(self.refresh)


def plan(
    items: list[SwarmService],
    existing: dict[str, dict[str, Any]],
    desired: dict[str, Desired] | None = None,
    recorded: dict[str, dict[str, Any] | None] | None = None,
    live: dict[str, dict[str, dict[str, str]]] | None = None,
) -> list[SwarmAction]:
    """existing: the project's swarm services; desired/recorded: converge state wanted / last
    recorded in the service's data volume; live: folder -> file hashes the running task's
    re-read folders hold (both read from its running task)."""
    desired, recorded, live = desired or {}, recorded or {}, live or {}
    actions = []
    for item in items:
        current = existing.get(item.name)
        if current is None:
            action = SwarmAction(item, "create")
        else:
            label = current["Spec"].get("Labels", {}).get(f"{LABEL}.settings")
            action = SwarmAction(item, "keep" if label == item.fingerprint else "update", current["ID"])
            if action.verb == "keep":
                action.refresh = live_changes(item.spec, live.get(item.name, {}))
        if item.name in desired:
            action.converge = changes(desired[item.name], recorded.get(item.name))
        actions.append(action)
    return actions


def stop_service(api: SwarmApi, stack: Stack, name: str, timeout: float) -> None:
    """Scaled to none: a task's container stopped by hand would be replaced at once by a new task,
    a second one on the same data volume."""
    _scale_to_none(api, api.services(stack.name)[name]["ID"], timeout)


def start_service(api: SwarmApi, stack: Stack, name: str, timeout: float) -> Box:
    """Scaled back to one task; its container once there (healthy or not yet)."""
    service_id = api.services(stack.name)[name]["ID"]
    api.scale(service_id, 1)
    deadline = time.monotonic() + timeout
    while (task := running_task(api, service_id)) is None:
        if time.monotonic() > deadline:
            raise DeployError(f"{name}: no task started {timeout:.0f} s after scaling it back")
        time.sleep(POLL_S)
    return _task_box(api, stack, task)


def _scale_to_none(api: SwarmApi, service_id: str, timeout: float) -> None:
    api.scale(service_id, 0)
    deadline = time.monotonic() + timeout
    while any(t["Status"]["State"] in ("running", "starting") for t in api.tasks(service_id)):
        if time.monotonic() > deadline:
            raise DeployError(f"a task of {service_id} still runs {timeout:.0f} s after scaling it to none")
        time.sleep(POLL_S)


@dataclass
class Observed:
    """What the running tasks of the stateful services say, for the plan and for converge."""

    recorded: dict[str, dict[str, Any] | None] = field(default_factory=dict)  # None: check all again
    unhealthy: set[str] = field(default_factory=set)  # changed behind the inventory's back
    previous: dict[str, list[str]] = field(default_factory=dict)  # secrets the running task was given
    live: dict[str, dict[str, dict[str, str]]] = field(default_factory=dict)  # re-read folders' files


def observe(
    api: SwarmApi,
    stack: Stack,
    items: list[SwarmService],
    desired: dict[str, Desired],
    existing: dict[str, dict[str, Any]],
) -> Observed:
    """Each stateful service's record, read from its running task (none running, or on a node
    deploy cannot reach: converge checks everything again), its health, the secrets it was
    started with (converge tries them when the new admin password is refused, as on one host),
    and what the folders it re-reads hold."""
    found = Observed()
    for item in items:
        attrs = existing.get(item.name)
        if "live" not in item.definition or attrs is None:
            continue
        task = running_task(api, attrs["ID"])
        with contextlib.suppress(DeployError):  # nothing known: every file is written again
            if task is not None:
                found.live[item.name] = apply.deployed_live_files(_task_box(api, stack, task), item.spec)
    for name, wanted in desired.items():
        attrs = existing.get(name)
        task = running_task(api, attrs["ID"]) if attrs else None
        found.recorded[name] = None
        if attrs is None or task is None:
            continue
        try:
            box = _task_box(api, stack, task)
        except DeployError:
            continue
        secret_files = attrs["Spec"]["TaskTemplate"]["ContainerSpec"].get("Secrets") or []
        env = {}
        for reference in secret_files:
            key = reference["File"]["Name"]
            code, text = box.run(["cat", f"/run/secrets/{key}"])
            if code == 0:
                env[key] = text
        found.previous[name] = previous_secrets(name, env)
        if box.health == "unhealthy":
            found.unhealthy.add(name)
            continue
        found.recorded[name] = read_record(box.read_file(f"{wanted.data_path}/{STATE_FILE}"))
    return found


def quiet_first(stack: Stack, actions: list[SwarmAction]) -> list[SwarmAction]:
    """Telegraf, scaled to none before InfluxDB's converge changes the account it writes with (as
    on one host, deploy/run.py's quiet_first: a batch refused with 401 is dropped); its own update
    brings it back, after InfluxDB."""
    influx = next((a for a in actions if a.item.name == "influxdb"), None)
    writer = f"password of user {stack.influx.writer.user}"
    if influx is None or influx.verb == "create":
        return []
    if not (influx.verb == "update" or writer in influx.converge or UNHEALTHY in influx.converge):
        return []
    return [a for a in actions if is_telegraf(a.item.name) and a.verb != "create"]


def _ensure_objects(api: SwarmApi, project: str, items: list[SwarmService]) -> dict[str, str]:
    ids: dict[str, str] = {}
    for kind in ("config", "secret"):
        have = api.objects(kind, project)
        for item in items:
            for name, _, data in item.configs if kind == "config" else item.secrets:
                if name not in have:
                    labels = {f"{LABEL}.project": project}
                    have[name] = api.create_object(kind, name, data, labels)
                ids[name] = have[name]
    return ids


def _current_task(
    api: SwarmApi, service_id: str, fingerprint: str, job: bool
) -> tuple[str, dict[str, Any] | None]:
    """('running' | 'complete' | 'failed: why' | 'pending', the task). A task still "starting"
    (its healthcheck not passed yet) counts as running once its container is there: converge
    goes in and makes true what the healthcheck may need (a new password), then readiness is
    waited for by running the healthcheck itself. A service's task that ended "complete" (it
    exited, or the swarm killed it as unhealthy) failed as much as one that says so: a restart
    loop is counted either way."""
    tasks = [
        t
        for t in api.tasks(service_id)
        if t.get("Spec", {}).get("ContainerSpec", {}).get("Labels", {}).get(f"{LABEL}.settings")
        == fingerprint
    ]
    for state in ("complete", "running", "starting"):
        for task in tasks:
            if task["Status"]["State"] == state and task.get("DesiredState") in ("running", "complete"):
                if state == "starting" and not has_container(task):
                    continue
                return ("running" if state == "starting" else state), task
    ended = FAILED if job else (*FAILED, "complete")
    failed = [t for t in tasks if t["Status"]["State"] in ended]
    if len(failed) >= MAX_FAILED_TASKS:
        last = failed[-1]["Status"]
        return f"failed: {last.get('Err') or last.get('Message') or last['State']}", failed[-1]
    return "pending", None


def _started(api: SwarmApi, stack: Stack, task: dict[str, Any]) -> bool:
    """Its container runs: a task "starting" may hold a container created and never started (on
    a node that had just left the overlay network: "network ... not found"), which the swarm then
    fails and replaces."""
    try:
        return _task_box(api, stack, task).status == "running"
    except DeployError:
        return True  # a node deploy cannot reach: the swarm's own state has to do


def _wait(api: SwarmApi, stack: Stack, action: SwarmAction, timeout: float) -> dict[str, Any]:
    assert action.service_id is not None
    item = action.item
    deadline = time.monotonic() + timeout
    want = "complete" if item.definition["job"] else "running"
    while True:
        state, task = _current_task(api, action.service_id, item.fingerprint, item.definition["job"])
        if state == want and task is not None and (want == "complete" or _started(api, stack, task)):
            return task
        if state.startswith("failed"):
            raise DeployError(f"{item.name}: its task {state}")
        status = api.service(action.service_id).get("UpdateStatus", {})
        if status.get("State") in ("rollback_completed", "paused"):
            raise DeployError(f"{item.name}: the update was rolled back: {status.get('Message', '')}")
        if time.monotonic() > deadline:
            raise DeployError(f"{item.name}: no task {want} after {timeout:.0f} s (last: {state})")
        time.sleep(POLL_S)


def _where(api: SwarmApi, stack: Stack) -> OnSwarm:
    swarm = stack.docker.swarm
    return OnSwarm(api, stack.name, dict(swarm.nodes) if swarm else {})


def _task_box(api: SwarmApi, stack: Stack, task: dict[str, Any]) -> Box:
    """The task's container, on the manager or through the node's own Docker API."""
    try:
        return _where(api, stack).task_box(task)
    except EngineError as error:
        raise DeployError(str(error)) from None


def _refresh_live(api: SwarmApi, stack: Stack, item: SwarmService, task: dict[str, Any]) -> None:
    """The folders the service re-reads (Grafana's dashboards), written into their volume on the
    task's node as on one host: the running task picks them up, no new task."""
    volumes = [v for v in item.spec.config_volumes if v.live]
    if volumes:
        engine = _where(api, stack).node_engine(task)
        for volume in volumes:
            apply.fill_volume(engine, item.spec, volume)


def _converge(
    api: SwarmApi,
    stack: Stack,
    values: SecretValues,
    action: SwarmAction,
    observed: Observed,
    task: dict[str, Any],
    echo: Echo,
) -> None:
    """What the plan said converge changes, in the service's new (or running) task; the answer
    awaited is the server's own, never a healthcheck that needs the converged state."""
    item = action.item
    desired: Desired | None = desired_state(stack, values).get(item.name)
    how = convergers(stack, values).get(item.name)
    if desired is None or how is None or not action.converge:
        return
    box = _task_box(api, stack, task)
    echo(f"converging {item.name}: {'; '.join(action.converge)}")
    if how.answers:
        deadline = time.monotonic() + 60
        while box.run(how.answers)[0] != 0:
            if time.monotonic() > deadline:
                raise DeployError(f"{item.name}: does not answer for converge")
            time.sleep(POLL_S)
    name = item.name
    how.apply(box, observed.recorded.get(name), observed.previous.get(name, []))
    box.write_file(desired.data_path, STATE_FILE, desired.record(), 0o600)


def _wait_ready(
    api: SwarmApi, stack: Stack, item: SwarmService, task: dict[str, Any], timeout: float
) -> None:
    """Ready as on one host: the service's own healthcheck, run in its task every quarter second
    (a swarm task counts as running before its first healthcheck passes)."""
    health = item.definition["health"]
    if health is None:
        return
    try:
        box = _task_box(api, stack, task)
    except DeployError:
        return  # a node deploy cannot reach: the swarm's own health state has to do
    kind, *rest = health["test"]
    command = ["sh", "-c", rest[0]] if kind == "CMD-SHELL" else list(rest)
    deadline = time.monotonic() + timeout
    while box.run(command)[0] != 0:
        if time.monotonic() > deadline:
            raise DeployError(f"{item.name}: not ready after {timeout:.0f} s (its healthcheck fails)")
        time.sleep(POLL_S)


def _make_ready(
    api: SwarmApi,
    stack: Stack,
    values: SecretValues,
    action: SwarmAction,
    observed: Observed,
    task: dict[str, Any],
    timeout: float,
    echo: Echo,
) -> None:
    """Live folders written, converge, then the healthcheck, in the service's task; when that task
    dies meanwhile (an image's first-start setup that fails once, as InfluxDB 1's does on a
    password with a space: the next start skips it), again in the task the swarm starts next, up
    to the swarm's own count of failed tasks."""
    for attempt in range(1, MAX_FAILED_TASKS + 1):
        try:
            if action.verb != "keep" or action.refresh:
                _refresh_live(api, stack, action.item, task)
            _converge(api, stack, values, action, observed, task, echo)
            _wait_ready(api, stack, action.item, task, timeout)
            return
        except (DeployError, EngineError) as error:
            if attempt == MAX_FAILED_TASKS or _started(api, stack, task):
                raise
            echo(f"{action.item.name}: its task stopped ({error}); again in the next one")
            task = _wait(api, stack, action, timeout)


def planned(
    api: SwarmApi, stack: Stack, specs: list[ContainerSpec], values: SecretValues
) -> tuple[list[SwarmAction], Observed]:
    """The plan --dry-run prints and deploy carries out: services, what converge will change, and
    Telegraf stopped first where InfluxDB's account changes; with what the running tasks said."""
    _, manager = api.local_node()
    if not manager:
        raise DeployError(
            f"{api.name} is not a swarm manager: run `docker swarm init` there, or point "
            "target.docker_host at a manager"
        )
    items = swarm_services(stack, specs, values)
    existing = api.services(stack.name)
    desired = desired_state(stack, values)
    observed = observe(api, stack, items, desired, existing)
    actions = plan(items, existing, desired, observed.recorded, observed.live)
    for action in actions:
        if action.item.name in observed.unhealthy:
            action.converge = [UNHEALTHY]
    for action in quiet_first(stack, actions):
        action.quiet = True
        if action.verb == "keep":
            action.verb = "update"  # scaled to none first, and brought back by its update
    return actions, observed


def blocked(stack: Stack, values: SecretValues, observed: Observed) -> list[str]:
    """Changes no tool can make after setup (as on one host): deploy stops before any change."""
    desired = desired_state(stack, values)
    return [
        line for name, wanted in desired.items() for line in blockers(wanted, observed.recorded.get(name))
    ]


def deploy(
    api: SwarmApi,
    stack: Stack,
    values: SecretValues,
    actions: list[SwarmAction],
    observed: Observed,
    timeout: float,
    echo: Echo,
) -> None:
    """The plan carried out: services in dependency order, each rolled out and ready (and
    converged) before the next."""
    project = stack.name
    items = [a.item for a in actions]
    existing = api.services(project)
    api.ensure_overlay(network_name(project), {f"{LABEL}.project": project})
    ids = _ensure_objects(api, project, items)
    for action in actions:
        if action.quiet and action.service_id:
            echo(stopping_line(action.item.name))
            _scale_to_none(api, action.service_id, timeout)
    for action in actions:
        for line in action.lines():
            echo(line)
        if action.verb == "create":
            action.service_id = api.create_service(**_create_kwargs(action.item, api, ids))
        elif action.verb == "update":
            assert action.service_id is not None
            api.update_service(action.service_id, **_create_kwargs(action.item, api, ids))
        if action.verb == "keep" and action.item.definition["job"]:
            continue
        assert action.service_id is not None
        task = _wait(api, stack, action, timeout)
        if not action.item.definition["job"]:
            _make_ready(api, stack, values, action, observed, task, timeout, echo)
    wanted = {i.name for i in items}
    for name, attrs in sorted(existing.items()):
        if name not in wanted:
            echo(f"remove    {name} (no longer in the stack)")
            api.remove_service(attrs["ID"])
    _prune(api, project, ids)


def _prune(api: SwarmApi, project: str, keep: dict[str, str]) -> None:
    for kind in ("config", "secret"):
        for name, object_id in api.objects(kind, project).items():
            if name not in keep:
                api.remove_object(kind, object_id)  # still used by a task shutting down: next time


@dataclass
class TaskRow:
    service: str
    node: str
    state: str
    note: str


def status(api: SwarmApi, stack: Stack) -> list[TaskRow]:
    """Tasks per node: each service's tasks that should run, where, and how they are."""
    nodes = {i: n.get("Description", {}).get("Hostname", i) for i, n in api.nodes().items()}
    existing = api.services(stack.name)
    rows = []
    for service in stack.services:
        attrs = existing.get(service.name)
        if attrs is None:
            rows.append(TaskRow(service.name, "-", "missing", "not deployed"))
            continue
        every = api.tasks(attrs["ID"])
        tasks = [t for t in every if t.get("DesiredState") in ("running", "complete")]
        if not tasks:
            rows.append(
                TaskRow(service.name, "-", "no task", "the scheduler placed nothing: check placement")
            )
        for task in tasks:
            st = task["Status"]
            unclean = _after_unclean(api, stack, service, task, every)
            note = "; ".join(filter(None, [st.get("Err", ""), unclean]))
            rows.append(TaskRow(service.name, nodes.get(task.get("NodeID", ""), "-"), st["State"], note))
    return rows


def _after_unclean(
    api: SwarmApi, stack: Stack, service: Service, task: dict[str, Any], tasks: list[dict[str, Any]]
) -> str:
    """Whether a running task took over from one that was killed (a node's power cut, the OOM
    killer) or that failed, said as on one host."""
    if task["Status"]["State"] != "running" or service.lifecycle is None:
        return ""
    ended = _where(api, stack).took_over(service.lifecycle, task, tasks)
    return ended.note(moment(task["Status"].get("Timestamp")) or time.time()) if ended else ""


def down(api: SwarmApi, stack: Stack, echo: Echo) -> None:
    """Services, then their configs, secrets and overlay network, each waited for until gone (the
    manager removes them while the tasks shut down: a deploy right after must not find a network
    on its way out, and then no network at all)."""
    for name, attrs in sorted(api.services(stack.name).items()):
        echo(f"removing {name}")
        api.remove_service(attrs["ID"])
    deadline = time.monotonic() + 60
    network = network_name(stack.name)
    while time.monotonic() < deadline:  # configs, secrets and the network free once the tasks are gone
        left = [o for kind in ("config", "secret") for o in api.objects(kind, stack.name).items()]
        gone = api.remove_overlay(network)
        if not left and gone:
            break
        for kind in ("config", "secret"):
            for _, object_id in api.objects(kind, stack.name).items():
                api.remove_object(kind, object_id)
        time.sleep(POLL_S)
