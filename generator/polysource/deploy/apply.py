"""Carrying out a plan: network, volumes, images, config volumes, then containers in waves.

A re-created container replaces the old one only once it is ready (and converged); otherwise
the old one is put back and started, so a failed deploy leaves running what was running.
Readiness is probed directly, by running the service's own healthcheck inside it every quarter
second, instead of waiting for Docker's 5 s healthcheck ticks. A service that shares nothing
with its next container (Telegraf: no data volume, no port) is replaced new-first: the old one
runs until the new one is ready, and a second MQTT connection with the same client id takes the
persistent session over, so nothing queued at the broker is lost.
"""

import contextlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from polysource.deploy.converge import Converger, previous_secrets
from polysource.deploy.converge.record import Desired
from polysource.deploy.plan import Action
from polysource.deploy.spec import MARKER, ConfigVolume, ContainerSpec
from polysource.errors import DeployError, EngineError, PolysourceError
from polysource.runtime.engine import LABEL, Box, Engine
from polysource.stack.model import Healthcheck
from polysource.stack.paths import STATE_FILE

Echo = Callable[[str], None]
LOG_LINES = 15
POLL_S = 0.25
MAX_RESTARTS = 3  # an image's first-start setup may fail once and be restarted by Docker


def network_name(project: str) -> str:
    return f"{project}_default"


def ensure_network(engine: Engine, project: str) -> str:
    name = network_name(project)
    if not engine.has_network(name):
        engine.create_network(name, {f"{LABEL}.project": project})
    return name


def _ensure_volume(engine: Engine, name: str, project: str, role: str) -> bool:
    if engine.has_volume(name):
        return False
    engine.create_volume(name, {f"{LABEL}.project": project, f"{LABEL}.role": role})
    return True


def ensure_data_volumes(engine: Engine, specs: list[ContainerSpec]) -> None:
    for spec in specs:
        for mount in spec.service.mounts:
            if mount.volume:
                _ensure_volume(engine, spec.volume_name(mount), spec.project, "data")


def ensure_images(engine: Engine, specs: list[ContainerSpec], platform: str, echo: Echo) -> None:
    for image in sorted({s.service.image for s in specs}):
        if engine.has_image(image):
            continue
        echo(f"pulling {image} for {platform}")
        layers: dict[str, str] = {}
        for event in engine.pull(image, platform):
            if "id" in event and "status" in event:
                layers[event["id"]] = event["status"]
                done = sum(1 for s in layers.values() if s in ("Pull complete", "Already exists"))
                echo(f"  {image}: {done}/{len(layers)} layers")


def volume_helper(engine: Engine, spec: ContainerSpec, volume: str, name: str) -> Box:
    """A created, never started, container with one volume mounted: the archive API reaches it."""
    from docker.types import Mount

    return engine.create(
        image=spec.service.image,
        name=name,
        mounts=[Mount("/polysource-volume", volume, type="volume")],
        labels={f"{LABEL}.project": spec.project, f"{LABEL}.role": "helper"},
        entrypoint=["/polysource-none"],
        command=[],
    )


def run_in_volumes(
    engine: Engine,
    spec: ContainerSpec,
    volumes: dict[str, str],
    script: str,
    timeout: float = 120,
    user: str | None = None,
) -> None:
    """A shell script run by the service's own image on data volumes (folder -> volume), as its
    user, or as `user` (root, to fill a new volume whose root Docker made root's)."""
    from docker.types import Mount

    box = engine.create(
        image=spec.service.image,
        name=f"{next(iter(volumes.values()))}-task",
        mounts=[Mount(folder, volume, type="volume") for folder, volume in volumes.items()],
        labels={f"{LABEL}.project": spec.project, f"{LABEL}.role": "helper"},
        entrypoint=["sh", "-c", script],
        command=[],
        **({"user": user} if user else {}),
    )
    try:
        box.start()
        code = box.wait(timeout)
        if code != 0:
            raise DeployError(f"`{script}` failed (exit {code}): {box.logs(20).decode(errors='replace')}")
    finally:
        box.remove(force=True)


def ensure_config_volumes(engine: Engine, specs: list[ContainerSpec]) -> None:
    """Fill new config volumes, and refresh live ones, through a helper."""
    for spec in specs:
        for volume in spec.config_volumes:
            created = _ensure_volume(engine, volume.name, spec.project, "config")
            if created or volume.live:
                fill_volume(engine, spec, volume)


def fill_volume(engine: Engine, spec: ContainerSpec, volume: ConfigVolume) -> None:
    """A config folder written into its volume (a live one while its service runs: the service
    re-reads it in place), through a helper on the engine that holds the volume."""
    helper = volume_helper(engine, spec, volume.name, f"{volume.name}-fill")
    try:
        helper.put_archive("/polysource-volume", volume.archive())
    finally:
        helper.remove(force=True)


def read_volume_file(engine: Engine, spec: ContainerSpec, volume: str, path: str) -> bytes | None:
    """A file inside a data volume no container mounts (after `down`), through a helper."""
    if not engine.has_volume(volume):
        return None
    helper = volume_helper(engine, spec, volume, f"{volume}-read")
    try:
        return helper.read_file(f"/polysource-volume/{path}")
    finally:
        helper.remove(force=True)


def deployed_live_files(box: Box, spec: ContainerSpec) -> dict[str, dict[str, str]]:
    """folder -> file hashes, from the marker each live folder carries."""
    found = {}
    for volume in spec.config_volumes:
        if volume.live:
            data = box.read_file(f"{volume.target}/{MARKER}")
            try:
                found[volume.folder] = json.loads(data) if data else {}
            except ValueError:
                found[volume.folder] = {}
    return found


def remove_unused_config_volumes(engine: Engine, project: str) -> None:
    used = {m.get("Name") for box in engine.boxes(project) for m in box.attrs.get("Mounts", [])}
    for name in engine.volumes(project, "config"):
        if name not in used:
            with contextlib.suppress(EngineError):  # in use outside polysource's view: keep it
                engine.remove_volume(name)


def last_logs(box: Box) -> str:
    try:
        text = box.logs(tail=LOG_LINES).decode(errors="replace").rstrip()
    except EngineError as error:
        return f"    (no logs: {error})"
    return "\n".join(f"    {line}" for line in text.splitlines()) or "    (no output)"


def probe_command(check: Healthcheck) -> list[str]:
    """The healthcheck as a command to exec: Docker's CMD-SHELL runs through sh -c."""
    kind, *rest = check.test
    return ["sh", "-c", rest[0]] if kind == "CMD-SHELL" else list(rest)


def _probe(box: Box, command: list[str]) -> bool:
    try:
        code, _ = box.run(command)
    except EngineError:  # not running (yet), restarting: not ready
        return False
    return code == 0


def _check_alive(box: Box, spec: ContainerSpec) -> None:
    """Raise when the container stopped for good; an exit Docker restarts from is tolerated."""
    box.reload()
    stopped = box.state.get("Status") in ("exited", "dead")
    restarts = int(box.attrs.get("RestartCount", 0))
    if (stopped and spec.service.restart == "no") or restarts >= MAX_RESTARTS:
        raise DeployError(
            f"{spec.service.name} stopped right after start ({restarts} restarts); "
            f"last log lines:\n{last_logs(box)}"
        )


def wait_until(box: Box, spec: ContainerSpec, command: list[str], deadline: float, what: str) -> None:
    while not _probe(box, command):
        _check_alive(box, spec)
        if time.monotonic() > deadline:
            state = box.state
            raise DeployError(
                f"{spec.service.name} not {what} in time (state {state.get('Status')}, "
                f"health {box.health or 'none'}); last log lines:\n{last_logs(box)}"
            )
        time.sleep(POLL_S)


def wait_exited(box: Box, spec: ContainerSpec, deadline: float) -> None:
    name = spec.service.name
    while True:
        box.reload()
        state = box.state
        if state.get("Status") == "exited":
            if state.get("ExitCode") == 0:
                return
            raise DeployError(
                f"{name} exited with status {state.get('ExitCode')}; last log lines:\n{last_logs(box)}"
            )
        if time.monotonic() > deadline:
            raise DeployError(f"{name} did not finish in time; last log lines:\n{last_logs(box)}")
        time.sleep(POLL_S)


def start_container(engine: Engine, spec: ContainerSpec, network: str) -> Box:
    box = engine.create(**spec.create_kwargs(network, engine.api_version))
    try:
        box.start()
    except EngineError as error:
        with contextlib.suppress(EngineError):
            box.remove(force=True)
        text = str(error)
        if "port is already allocated" in text or "address already in use" in text:
            ports = ", ".join(str(p.host) for p in spec.service.ports)
            raise DeployError(
                f"{spec.service.name}: a host port it publishes ({ports}) is already taken: {text}"
            ) from None
        raise DeployError(f"{spec.service.name}: cannot start: {text}") from None
    return box


@dataclass
class Step:
    """One action under way: the new container, and the old one kept aside until it is ready."""

    action: Action
    new: Box | None = None
    old: Box | None = None
    was_running: bool = False
    previous_env: dict[str, str] = field(default_factory=dict)

    def restore(self) -> None:
        if self.new is not None and self.new is not self.action.container:
            with contextlib.suppress(EngineError):
                self.new.remove(force=True)
        if self.old is not None:
            self.old.rename(self.action.spec.name if self.action.spec else self.action.service)
            if self.was_running:
                self.old.start()


def begin(engine: Engine, action: Action, network: str) -> Step:
    """Start the change; waiting for it is finish()'s job, so a whole wave starts at once."""
    step = Step(action)
    spec = action.spec
    if action.verb == "remove":
        action.container.stop(timeout=10)
        action.container.remove()
    elif action.verb == "start":
        action.container.start()
        step.new = action.container
    elif action.replaces:
        assert spec is not None
        if action.verb == "recreate":
            step.old, step.was_running = action.container, action.container.status == "running"
            step.previous_env = action.container.env
            if not spec.service.start_first:  # it would share a port or a data volume
                step.old.stop(timeout=10)
            step.old.rename(f"{spec.name}-previous")
        try:
            step.new = start_container(engine, spec, network)
        except PolysourceError:
            step.restore()
            raise
    elif action.converge:
        step.new = action.container  # kept, but its settings need converging
        step.previous_env = action.container.env
    return step  # "update": the live folder was refreshed with the other config volumes


@dataclass
class Converging:
    """What finish() needs to converge a service: how, what, and the record to compare."""

    converger: Converger
    desired: Desired
    recorded: dict[str, Any] | None


def finish(step: Step, timeout: float, converging: Converging | None, echo: Echo) -> None:
    """Wait until ready, converging on the way; on failure put back what ran before."""
    spec = step.action.spec
    box = step.new
    if box is None or spec is None:
        return
    deadline = time.monotonic() + timeout
    try:
        if spec.service.one_shot:
            wait_exited(box, spec, deadline)
        else:
            check = spec.service.healthcheck
            ready = probe_command(check) if check else ["true"]
            if converging and step.action.converge:
                answers = converging.converger.answers or ready
                wait_until(box, spec, answers, deadline, "answering")
                echo(f"converging {spec.service.name}: {'; '.join(step.action.converge)}")
                previous = previous_secrets(spec.service.name, step.previous_env)
                converging.converger.apply(box, converging.recorded, previous)
                box.write_file(converging.desired.data_path, STATE_FILE, converging.desired.record(), 0o600)
            wait_until(box, spec, ready, deadline, "ready")
    except PolysourceError as error:
        if step.action.verb == "start":
            raise
        step.restore()
        back = f"\n  {spec.service.name}: the previous container was put back" if step.old else ""
        raise DeployError(f"{error}{back}") from None
    if step.old is not None:
        with contextlib.suppress(EngineError):
            step.old.remove(force=True)


def waves(actions: list[Action]) -> list[list[Action]]:
    """Removals first, then services grouped by dependency depth: each group starts together."""
    depth: dict[str, int] = {}
    specs = {a.service: a.spec for a in actions if a.spec}

    def level(name: str) -> int:
        if name not in depth:
            spec = specs.get(name)
            deps = spec.service.depends_on if spec else {}
            depth[name] = 1 + max((level(d) for d in deps if d in specs), default=0)
        return depth[name]

    groups: dict[int, list[Action]] = {}
    for action in actions:
        if action.changes:
            groups.setdefault(0 if action.verb == "remove" else level(action.service), []).append(action)
    return [groups[k] for k in sorted(groups)]
