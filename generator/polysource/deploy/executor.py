"""One plan, carried out by the executor the target names, chosen once (`executor_for`).

Every command that changes or reads the running stack goes through an executor: `deploy` (its
plan printed by --dry-run and carried out), `status`, `logs`, `down`, and `backup`/`restore`
(a service stopped and started while its data is swapped, converge at the end). Two executors
keep the same promises in their own way, as Compose v2's `pkg/compose` plans, then executes:
- `OnOneHost`: containers on one Docker daemon, the old one kept until the new one is ready;
- `OnSwarm`: swarm services rolled by the manager, converge into the new task.
Both find a service's running container through `runtime.containers`, wherever it runs.
"""

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from polysource.deploy import apply, run, swarm
from polysource.deploy.apply import Echo
from polysource.deploy.plan import stopping_line
from polysource.deploy.run import Target
from polysource.errors import DeployError, PolysourceError
from polysource.runtime.containers import Containers, OnHost, containers_for
from polysource.runtime.engine import Box, Engine, SwarmApi
from polysource.services import is_telegraf


@dataclass
class Plan:
    """What deploy will do: the lines --dry-run prints, the changes no tool can make (deploy
    stops before any change), and the executor's own steps."""

    lines: list[str]
    blockers: list[str]
    changes: int
    services: int
    steps: Any = None  # the executor's actions, with what it read to plan them
    words: tuple[str, str] = ("", "")  # the summary's sentence, planned and done

    def summary(self, project: str, done: bool) -> str:
        text = self.words[done]
        return text.format(project=project, changes=self.changes, kept=self.services - self.changes)


class Executor(Protocol):
    target: Target
    containers: Containers

    def plan(self) -> Plan: ...

    def apply(self, plan: Plan, timeout: float, echo: Echo) -> None: ...

    def stop(self, service: str, timeout: float) -> None: ...

    def start(self, service: str, timeout: float) -> Box: ...

    def down(self, volumes: bool, echo: Echo) -> None: ...

    def status(self) -> list[tuple[str, ...]]: ...


def logs(executor: Executor, service: str, follow: bool, tail: int) -> Iterator[bytes]:
    """A service's logs, from its running container wherever it runs (else its newest one)."""
    existing = executor.containers.all()
    if service not in existing:
        known = ", ".join(sorted(existing)) or "none running"
        raise PolysourceError(f"no container for service {service!r} (deployed: {known})")
    box = existing[service]
    return box.follow_logs(tail) if follow else iter([box.logs(tail)])


def converge_all(executor: Executor, timeout: float, echo: Echo) -> None:
    """The stack made what the inventory says (after a restore): plan, then carry it out."""
    plan = executor.plan()
    if plan.blockers:
        raise DeployError("\n".join(plan.blockers) + "\nnothing was changed")
    executor.apply(plan, timeout, echo)


def _remove_leftovers(
    engines: list[Engine], project: str, volumes: bool, echo: Echo, settle: float = 0
) -> None:
    """Containers, the project's bridge network and its volumes (config ones always, data ones
    with --volumes), on every Docker host the stack used. settle: seconds a volume may stay in
    use (a swarm node's agent still removing a task's container)."""
    for engine in engines:
        where = "" if len(engines) == 1 else f" on {engine.url}"
        for box in reversed(engine.boxes(project)):
            echo(f"removing {box.labels.get('polysource.service') or box.name}{where}")
            box.remove(force=True)
        engine.remove_networks(apply.network_name(project))
        for role in ["config", "data"] if volumes else ["config"]:
            for name in engine.volumes(project, role):
                echo(f"removing volume {name}{where}")
                deadline = time.monotonic() + settle
                while not engine.remove_volume(name):
                    if time.monotonic() >= deadline:
                        raise PolysourceError(
                            f"volume {name}{where} is still in use by a container polysource did not create"
                        )
                    time.sleep(0.25)


@dataclass
class OnOneHost:
    """Containers on one Docker daemon."""

    target: Target
    containers: Containers = field(init=False)

    def __post_init__(self) -> None:
        self.containers = OnHost(self.target.engine, self.target.stack.name)

    def plan(self) -> Plan:
        actions, recorded = run.plan(self.target)
        quiet = run.quiet_first(self.target.stack, actions)
        lines = [stopping_line(a.service) for a in quiet] + [line for a in actions for line in a.lines()]
        return Plan(
            lines,
            run.check_blockers(self.target, recorded),
            sum(a.changes for a in actions),
            len(actions),
            (actions, recorded),
            ("", "{project}: {changes} change(s), {kept} service(s) kept"),
        )

    def apply(self, plan: Plan, timeout: float, echo: Echo) -> None:
        actions, recorded = plan.steps
        run.deploy(self.target, actions, recorded, timeout, echo)

    def stop(self, service: str, timeout: float) -> None:
        if box := self.containers.all().get(service):  # stopped already: nothing to do
            box.stop(timeout=30)

    def start(self, service: str, timeout: float) -> Box:
        box = self.containers.all()[service]
        box.start()
        return box

    def down(self, volumes: bool, echo: Echo) -> None:
        _remove_leftovers(self.containers.engines(), self.target.stack.name, volumes, echo)

    def status(self) -> list[tuple[str, ...]]:
        rows = run.status(self.target, self.containers)
        header: tuple[str, ...] = ("SERVICE", "IMAGE", "STATE", "HEALTH", "UP TO DATE", "NOTE")
        return [header, *((r.service, r.image, r.state, r.health, r.current, r.note) for r in rows)]


@dataclass
class OnSwarm:
    """Swarm services, through a manager; converge and readiness in each service's new task."""

    target: Target
    containers: Containers = field(init=False)

    def __post_init__(self) -> None:
        self.containers = containers_for(self.target.stack, self.target.engine)
        self.api = SwarmApi(self.target.engine)

    def plan(self) -> Plan:
        stack = self.target.stack
        nodes = [swarm.Node.of(n) for n in self.api.nodes().values()]
        if problems := swarm.placement_problems(stack, nodes):
            raise DeployError("; ".join(problems) + "; nothing was changed")
        actions, observed = swarm.planned(self.api, stack, self.target.specs, self.target.values)
        lines = [stopping_line(a.item.name) for a in actions if a.quiet]
        return Plan(
            lines + [line for a in actions for line in a.lines()],
            swarm.blocked(stack, self.target.values, observed),
            sum(a.changes for a in actions),
            len(actions),
            (actions, observed),
            (
                "{project}: {changes} swarm service(s) to create, update or converge",
                "{project}: {changes} swarm service(s) created, updated or converged",
            ),
        )

    def apply(self, plan: Plan, timeout: float, echo: Echo) -> None:
        if plan.blockers:
            raise DeployError("\n".join(plan.blockers) + "\nnothing was changed")
        target = self.target
        apply.ensure_images(target.engine, target.specs, target.stack.docker.platform, echo)
        actions, observed = plan.steps
        swarm.deploy(self.api, target.stack, target.values, actions, observed, timeout, echo)

    def stop(self, service: str, timeout: float) -> None:
        swarm.stop_service(self.api, self.target.stack, service, timeout)

    def start(self, service: str, timeout: float) -> Box:
        return swarm.start_service(self.api, self.target.stack, service, timeout)

    def down(self, volumes: bool, echo: Echo) -> None:
        swarm.down(self.api, self.target.stack, echo)
        _remove_leftovers(self.containers.engines(), self.target.stack.name, volumes, echo, settle=30)

    def status(self) -> list[tuple[str, ...]]:
        rows = swarm.status(self.api, self.target.stack)
        for row in rows:
            if is_telegraf(row.service) and row.state == "running":
                row.note = "; ".join(filter(None, [row.note, run.writer_note(self.target, self.containers)]))
        header: tuple[str, ...] = ("SERVICE", "NODE", "TASK", "NOTE")
        return [header, *((r.service, r.node, r.state, r.note) for r in rows)]


def executor_for(target: Target) -> Executor:
    """The executor the inventory's target names: a swarm, or one Docker host."""
    return OnSwarm(target) if target.stack.docker.swarm else OnOneHost(target)
