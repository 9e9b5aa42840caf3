"""Carrying out a plan: network, volumes, images, config volumes, then containers in order.

A re-created container replaces the old one only once it is healthy; otherwise the old one is
put back and started, so a failed deploy leaves running what was running.
"""

import contextlib
import io
import json
import tarfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from polysource.deploy.plan import Action
from polysource.deploy.spec import LABEL, MARKER, ContainerSpec
from polysource.errors import PolysourceError

Echo = Callable[[str], None]
LOG_LINES = 15


def network_name(project: str) -> str:
    return f"{project}_default"


def project_filter(project: str, role: str | None = None) -> dict[str, Any]:
    labels = [f"{LABEL}.project={project}"] + ([f"{LABEL}.role={role}"] if role else [])
    return {"label": labels}


def existing_containers(client: Any, project: str) -> dict[str, Any]:
    found = client.containers.list(all=True, filters=project_filter(project))
    return {
        c.labels[f"{LABEL}.service"]: c
        for c in found
        if not c.name.endswith("-previous") and f"{LABEL}.service" in c.labels
    }


def ensure_network(client: Any, project: str) -> str:
    name = network_name(project)
    if not client.networks.list(names=[name]):
        client.networks.create(name, driver="bridge", labels={f"{LABEL}.project": project})
    return name


def ensure_data_volumes(client: Any, specs: list[ContainerSpec]) -> None:
    for spec in specs:
        for mount in spec.service.mounts:
            if mount.volume:
                _ensure_volume(client, spec.volume_name(mount), spec.project, "data")


def _ensure_volume(client: Any, name: str, project: str, role: str) -> bool:
    from docker.errors import NotFound

    try:
        client.volumes.get(name)
        return False
    except NotFound:
        client.volumes.create(name, labels={f"{LABEL}.project": project, f"{LABEL}.role": role})
        return True


def ensure_images(client: Any, specs: list[ContainerSpec], platform: str, echo: Echo) -> None:
    from docker.errors import APIError, ImageNotFound, NotFound

    for image in sorted({s.service.image for s in specs}):
        try:
            client.images.get(image)
            continue
        except ImageNotFound:
            pass
        echo(f"pulling {image} for {platform}")
        repository, _, tag = image.rpartition(":") if ":" in image.split("/")[-1] else (image, "", "latest")
        try:
            layers: dict[str, str] = {}
            for event in client.api.pull(repository, tag=tag, platform=platform, stream=True, decode=True):
                if "id" in event and "status" in event:
                    layers[event["id"]] = event["status"]
                    done = sum(1 for s in layers.values() if s in ("Pull complete", "Already exists"))
                    echo(f"  {image}: {done}/{len(layers)} layers")
                if "error" in event:
                    raise PolysourceError(f"cannot pull {image} for {platform}: {event['error']}")
        except (APIError, NotFound) as error:
            raise PolysourceError(
                f"cannot pull {image} for {platform}: {error.explanation or error}"
            ) from None


def deployed_live_files(container: Any, spec: ContainerSpec) -> dict[str, dict[str, str]]:
    """folder -> file hashes, from the marker each live folder carries."""
    from docker.errors import APIError, NotFound

    found = {}
    for volume in spec.config_volumes:
        if not volume.live:
            continue
        try:
            stream, _ = container.get_archive(f"{volume.target}/{MARKER}")
            with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as tar:
                member = tar.extractfile(MARKER)
                found[volume.folder] = json.loads(member.read()) if member else {}
        except (APIError, NotFound, tarfile.TarError, ValueError):
            found[volume.folder] = {}
    return found


def ensure_config_volumes(client: Any, specs: list[ContainerSpec]) -> None:
    """Fill new config volumes, and refresh live ones, through a created (never started) helper."""
    for spec in specs:
        for volume in spec.config_volumes:
            created = _ensure_volume(client, volume.name, spec.project, "config")
            if not (created or volume.live):
                continue
            from docker.types import Mount

            helper = client.containers.create(
                spec.service.image,
                name=f"{volume.name}-fill",
                mounts=[Mount("/polysource-config", volume.name, type="volume")],
                labels={f"{LABEL}.project": spec.project, f"{LABEL}.role": "helper"},
                entrypoint=["/polysource-none"],
                command=[],
            )
            try:
                helper.put_archive("/polysource-config", volume.archive())
            finally:
                helper.remove(force=True)


def remove_unused_config_volumes(client: Any, project: str) -> None:
    from docker.errors import APIError

    used = {
        m.get("Name")
        for c in client.containers.list(all=True, filters=project_filter(project))
        for m in c.attrs.get("Mounts", [])
    }
    for volume in client.volumes.list(filters=project_filter(project, "config")):
        if volume.name not in used:
            with contextlib.suppress(APIError):  # in use outside polysource's view: keep it
                volume.remove()


def last_logs(container: Any) -> str:
    text = container.logs(tail=LOG_LINES).decode(errors="replace").rstrip()
    return "\n".join(f"    {line}" for line in text.splitlines()) or "    (no output)"


def wait_ready(container: Any, spec: ContainerSpec, timeout: float) -> None:
    """Healthy for services with a healthcheck, exit 0 for one-shots, running otherwise."""
    deadline = time.monotonic() + timeout
    name = spec.service.name
    while True:
        container.reload()
        state = container.attrs["State"]
        if spec.service.one_shot:
            if state["Status"] == "exited":
                if state["ExitCode"] == 0:
                    return
                raise PolysourceError(
                    f"{name} exited with status {state['ExitCode']}; last log lines:\n{last_logs(container)}"
                )
        elif state["Status"] in ("exited", "dead"):
            raise PolysourceError(
                f"{name} stopped right after start; last log lines:\n{last_logs(container)}"
            )
        else:
            health = state.get("Health", {}).get("Status")
            if health in (None, "healthy") and state["Status"] == "running":
                return
            if health == "unhealthy":
                raise PolysourceError(f"{name} is unhealthy; last log lines:\n{last_logs(container)}")
        if time.monotonic() > deadline:
            health = state.get("Health", {}).get("Status", "none")
            raise PolysourceError(
                f"{name} not ready after {timeout:.0f}s (state {state['Status']}, health {health}); "
                f"last log lines:\n{last_logs(container)}"
            )
        time.sleep(0.5)


def start_container(client: Any, spec: ContainerSpec, network: str) -> Any:
    from docker.errors import APIError

    container = client.containers.create(**spec.create_kwargs(network, client.api.api_version))
    try:
        container.start()
    except APIError as error:
        container.remove(force=True)
        text = str(error.explanation or error)
        if "port is already allocated" in text or "address already in use" in text:
            ports = ", ".join(str(h) for h, _ in spec.service.ports)
            raise PolysourceError(
                f"{spec.service.name}: a host port it publishes ({ports}) is already taken: {text}"
            ) from None
        raise PolysourceError(f"{spec.service.name}: cannot start: {text}") from None
    return container


@dataclass
class Step:
    """One action under way: the new container, and the old one kept aside until it is ready."""

    action: Action
    new: Any = None
    old: Any = None
    was_running: bool = False

    def restore(self) -> None:
        if self.new is not None:
            self.new.remove(force=True)
        if self.old is not None:
            self.old.rename(self.action.spec.name)
            if self.was_running:
                self.old.start()


def begin(client: Any, action: Action, network: str) -> Step:
    """Start the change; waiting for it is finish()'s job, so a whole wave starts at once."""
    step = Step(action)
    spec = action.spec
    if action.verb == "remove":
        action.container.stop(timeout=10)
        action.container.remove()
    elif action.verb == "start":
        action.container.start()
        step.new = action.container
    elif action.verb in ("create", "recreate"):
        assert spec is not None
        if action.verb == "recreate":
            step.old, step.was_running = action.container, action.container.status == "running"
            step.old.stop(timeout=10)
            step.old.rename(f"{spec.name}-previous")
        try:
            step.new = start_container(client, spec, network)
        except PolysourceError:
            step.restore()
            raise
    return step  # "update": the live folder was refreshed with the other config volumes


def finish(step: Step, timeout: float) -> None:
    """Wait until ready; on failure put back what ran before."""
    spec = step.action.spec
    if step.new is None or spec is None:
        return
    try:
        wait_ready(step.new, spec, timeout)
    except PolysourceError as error:
        if step.action.verb == "start":
            raise
        step.restore()
        back = f"\n  {spec.service.name}: the previous container was put back" if step.old else ""
        raise PolysourceError(f"{error}{back}") from None
    if step.old is not None:
        step.old.remove()


def waves(actions: list[Action]) -> list[list[Action]]:
    """Removals first, then services grouped by dependency depth: each group starts together."""
    depth: dict[str, int] = {}
    specs = {a.service: a.spec for a in actions if a.spec}

    def level(name: str) -> int:
        if name not in depth:
            deps = specs[name].service.depends_on if name in specs else {}
            depth[name] = 1 + max((level(d) for d in deps if d in specs), default=0)
        return depth[name]

    groups: dict[int, list[Action]] = {}
    for action in actions:
        if action.changes:
            groups.setdefault(0 if action.verb == "remove" else level(action.service), []).append(action)
    return [groups[k] for k in sorted(groups)]
