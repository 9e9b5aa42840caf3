"""Where a stack's services run: the running container of each, wherever it is.

`status`, `logs`, `verify`, `watch`, `backup` and `restore` read a service's container; on one
host it is on the daemon deploy talks to, on a swarm it is the container of the service's
running task, on whichever node the scheduler put it (reached through target.swarm.nodes). One
lookup for every tool, chosen once from the stack (`containers_for`), so none of them reads a
replaced task's exited container, or the manager's empty volume for a service on a worker.
"""

from dataclasses import dataclass
from typing import Any, Protocol

from polysource.errors import EngineError
from polysource.runtime.engine import Box, Engine, SwarmApi, connect
from polysource.runtime.lifecycle import Ending, ending
from polysource.services import Lifecycle
from polysource.stack import Stack

STARTED = ("running", "starting")  # a task with a healthcheck is "starting" until it passes


class Containers(Protocol):
    """The running container of each service, and the Docker API of the node it runs on."""

    @property
    def name(self) -> str: ...

    def all(self) -> dict[str, Box]: ...

    def running(self, service: str) -> Box: ...

    def engine_of(self, service: str) -> Engine: ...

    def engines(self) -> list[Engine]: ...


def _not_running(service: str, state: str, where: str) -> EngineError:
    return EngineError(f"{service} is {state} on {where}: deploy the stack first (polysource status)")


@dataclass
class OnHost:
    """One Docker host: every service's container on it."""

    engine: Engine
    project: str

    @property
    def name(self) -> str:
        return self.engine.url

    def all(self) -> dict[str, Box]:
        return self.engine.services(self.project)

    def running(self, service: str) -> Box:
        box = self.all().get(service)
        if box is None or box.status != "running":
            raise _not_running(service, "not deployed" if box is None else box.status, self.engine.url)
        return box

    def engine_of(self, service: str) -> Engine:
        return self.engine

    def engines(self) -> list[Engine]:
        return [self.engine]


def has_container(task: dict[str, Any]) -> bool:
    return bool(task["Status"].get("ContainerStatus", {}).get("ContainerID"))


FAILED = ("failed", "rejected", "orphaned")


def ended_alone(task: dict[str, Any]) -> bool:
    """A task that ended on its own, not shut down by the swarm (an update, a scale): failed, or
    complete where it was meant to run (a job's task completes when it succeeds)."""
    state = task["Status"]["State"]
    alone = state in FAILED or (state == "complete" and task.get("DesiredState") != "complete")
    return alone and has_container(task)


def running_task(
    api: SwarmApi, service_id: str, tasks: list[dict[str, Any]] | None = None
) -> dict[str, Any] | None:
    """The service's task whose container runs, healthy or not yet (converge execs into it);
    tasks: the service's, when the caller listed them already."""
    for task in api.tasks(service_id) if tasks is None else tasks:
        started = task["Status"]["State"] in STARTED and task.get("DesiredState") == "running"
        if started and has_container(task):
            return task
    return None


@dataclass
class OnSwarm:
    """A swarm: each service's running task, on the manager or on a node of target.swarm.nodes."""

    api: SwarmApi
    project: str
    nodes: dict[str, str]  # hostname -> Docker URL, for nodes other than the manager

    @property
    def name(self) -> str:
        return self.api.name

    def node_engine(self, task: dict[str, Any]) -> Engine:
        """The Docker API of the node a task runs on: the manager's, or target.swarm.nodes'."""
        local, _ = self.api.local_node()
        if task["NodeID"] == local:
            return self.api.engine
        node = self.api.nodes().get(task["NodeID"], {})
        hostname = node.get("Description", {}).get("Hostname", task["NodeID"])
        url = self.nodes.get(hostname)
        if url is None:
            raise EngineError(
                f"the task runs on node {hostname}: reaching it needs that node's Docker API; "
                f"add target.swarm.nodes.{hostname} (e.g. ssh://pi@{hostname})"
            )
        return connect(url)

    def task_box(self, task: dict[str, Any]) -> Box:
        """The task's container, through the Docker API of its node."""
        container = task["Status"]["ContainerStatus"]["ContainerID"]
        return SwarmApi(self.node_engine(task)).box(container)

    def _task(self, service: str) -> dict[str, Any]:
        attrs = self.api.services(self.project).get(service)
        task = running_task(self.api, attrs["ID"]) if attrs else None
        if task is None:
            state = "not deployed" if attrs is None else "without a running task"
            raise _not_running(service, state, self.name)
        return task

    def all(self) -> dict[str, Box]:
        """Each service's running task's container; a service with none, or on a node polysource
        cannot reach, is left out."""
        found = {}
        for service, attrs in self.api.services(self.project).items():
            task = running_task(self.api, attrs["ID"])
            if task is None:
                continue
            try:
                found[service] = self.task_box(task)
            except EngineError:
                continue
        return found

    def running(self, service: str) -> Box:
        box = self.task_box(self._task(service))
        if box.status != "running":  # created, never started: the swarm replaces the task
            raise _not_running(service, box.status, self.name)
        return box

    def engine_of(self, service: str) -> Engine:
        return self.node_engine(self._task(service))

    def engines(self) -> list[Engine]:
        return [self.api.engine, *(connect(url) for url in self.nodes.values())]

    def took_over(
        self, lifecycle: Lifecycle, task: dict[str, Any], tasks: list[dict[str, Any]]
    ) -> Ending | None:
        """How the last task before `task` in its slot that ran ended, when it ended on its own
        (None: the first of its slot, or shut down by the swarm): after a power cut the swarm
        starts new tasks, new containers with no restart count, and only the old ones tell.
        tasks: every task of the service, as the manager lists them."""
        slot = task.get("Slot")
        earlier = [
            t
            for t in tasks
            if t.get("Slot") == slot and t["CreatedAt"] < task["CreatedAt"] and has_container(t)
        ]  # a task rejected before it had a container (the engine still starting) ran nothing
        if not earlier:
            return None
        previous = max(earlier, key=lambda t: str(t["CreatedAt"]))
        if not ended_alone(previous):
            return None
        try:
            box: Box | None = self.task_box(previous)
        except EngineError:
            box = None
        return ending(box, previous["Status"], lifecycle)


def containers_for(stack: Stack, engine: Engine) -> Containers:
    """The lookup the stack's target needs: one host, or a swarm through its manager."""
    swarm = stack.docker.swarm
    if swarm is None:
        return OnHost(engine, stack.name)
    return OnSwarm(SwarmApi(engine), stack.name, dict(swarm.nodes))
