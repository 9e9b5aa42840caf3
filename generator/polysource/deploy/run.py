"""deploy, status, down and logs: plain functions the CLI calls."""

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from polysource.deploy import apply
from polysource.deploy.apply import Echo
from polysource.deploy.docker_host import connect
from polysource.deploy.plan import Action, differences, make_plan
from polysource.deploy.secrets import resolve_secrets
from polysource.deploy.spec import LABEL, ContainerSpec, desired_containers
from polysource.errors import PolysourceError
from polysource.output import drift
from polysource.pipeline import load_stack
from polysource.render.files import render_files
from polysource.stack import Stack


@dataclass
class Target:
    stack: Stack
    specs: list[ContainerSpec]
    client: Any


def prepare(inventory: Path, output: Path, host: str | None, full: bool = True) -> Target:
    """Everything checked before any change: output/ current, secrets present, daemon reachable.

    full=False (down, logs) needs only the project name and the daemon.
    """
    stack = load_stack(inventory)
    if not full:
        return Target(stack, [], connect(host or stack.inventory.target.docker_host))
    files = render_files(stack, output)
    stale = drift(output, files)
    if stale:
        raise PolysourceError(
            f"{output} is not what {inventory} renders to ({', '.join(stale[:5])}): "
            "run `polysource render` and review the diff first; nothing was changed"
        )
    secrets = resolve_secrets(stack.secrets, stack.inventory_dir)
    client = connect(host or stack.inventory.target.docker_host)
    return Target(stack, desired_containers(stack, files, secrets), client)


def plan(target: Target) -> list[Action]:
    existing = apply.existing_containers(target.client, target.stack.name)
    live = {
        spec.service.name: apply.deployed_live_files(existing[spec.service.name], spec)
        for spec in target.specs
        if spec.service.name in existing
    }
    return make_plan(target.specs, existing, live)


def deploy(target: Target, actions: list[Action], timeout: float, echo: Echo) -> None:
    client, specs = target.client, target.specs
    if not any(a.changes for a in actions):
        return
    network = apply.ensure_network(client, target.stack.name)
    apply.ensure_data_volumes(client, specs)
    apply.ensure_images(client, specs, target.stack.inventory.target.platform, echo)
    apply.ensure_config_volumes(client, [a.spec for a in actions if a.spec and a.changes])
    for wave in apply.waves(actions):
        steps, errors = [], []
        for action in wave:
            echo(str(action))
            try:
                steps.append(apply.begin(client, action, network))
            except PolysourceError as error:  # the wave's other steps still finish or roll back
                errors.append(str(error))
        for step in steps:
            try:
                apply.finish(step, timeout)
            except PolysourceError as error:
                errors.append(str(error))
        if errors:
            raise PolysourceError("\n".join(errors))
    apply.remove_unused_config_volumes(client, target.stack.name)


@dataclass
class Row:
    service: str
    image: str
    state: str
    health: str
    current: str


def status(target: Target) -> list[Row]:
    existing = apply.existing_containers(target.client, target.stack.name)
    rows = []
    for spec in target.specs:
        container = existing.get(spec.service.name)
        if container is None:
            rows.append(Row(spec.service.name, spec.service.image, "missing", "-", "no"))
            continue
        state = container.attrs["State"]
        health = state.get("Health", {}).get("Status", "-")
        current = "no" if differences(spec, container.labels) else "yes"
        rows.append(
            Row(
                spec.service.name,
                container.labels.get(f"{LABEL}.image", "?"),
                state["Status"],
                health,
                current,
            )
        )
    return rows


def down(target: Target, volumes: bool, echo: Echo) -> None:
    client, project = target.client, target.stack.name
    for name, container in reversed(list(apply.existing_containers(client, project).items())):
        echo(f"removing {name}")
        container.remove(force=True)
    for network in client.networks.list(names=[apply.network_name(project)]):
        network.remove()
    roles = ["config", "data"] if volumes else ["config"]
    for role in roles:
        for volume in client.volumes.list(filters=apply.project_filter(project, role)):
            echo(f"removing volume {volume.name}")
            volume.remove(force=True)


def logs(target: Target, service: str, follow: bool, tail: int) -> Iterator[bytes]:
    existing = apply.existing_containers(target.client, target.stack.name)
    if service not in existing:
        known = ", ".join(sorted(existing)) or "none running"
        raise PolysourceError(f"no container for service {service!r} (deployed: {known})")
    output = existing[service].logs(stream=follow, follow=follow, tail=tail)
    return output if follow else iter([output])
