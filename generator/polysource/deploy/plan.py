"""What deploy will do, per service, and why: the part --dry-run prints.

Pure: it compares desired container specs with what the engine reports (labels, status, the
records converge keeps) and never calls Docker itself, so it is tested against fakes.
"""

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from polysource.deploy.converge.record import Desired, changes
from polysource.deploy.spec import ContainerSpec
from polysource.runtime.engine import LABEL

VERBS = ("create", "recreate", "start", "update", "keep", "remove")
UNHEALTHY = "unhealthy: checking its database, users and passwords again"


class Existing(Protocol):
    """What the plan reads of a container (deploy.engine.Box, or a fake)."""

    @property
    def labels(self) -> dict[str, str]: ...

    @property
    def status(self) -> str: ...

    @property
    def health(self) -> str | None: ...


@dataclass
class Action:
    service: str
    verb: str  # one of VERBS
    reasons: list[str] = field(default_factory=list)
    spec: ContainerSpec | None = None
    container: Any = None
    converge: list[str] = field(default_factory=list)  # stateful settings to make true, in words
    recheck: bool = False  # converge everything again, whatever the volume's record says

    def __str__(self) -> str:
        return "\n".join(self.lines())

    def lines(self) -> list[str]:
        return plan_lines(self.verb, self.service, self.reasons, self.converge)

    @property
    def changes(self) -> bool:
        return self.verb != "keep" or bool(self.converge)

    @property
    def replaces(self) -> bool:
        """A new container for this service (its first-start setup may run)."""
        return self.verb in ("create", "recreate")


def plan_lines(verb: str, service: str, reasons: list[str], converge: list[str]) -> list[str]:
    """A service's step as --dry-run and deploy print it, on one host or a swarm: the verb and
    why, then what converge will make true."""
    why = f" ({'; '.join(reasons)})" if reasons else ""
    found = [f"{verb:<9} {service}{why}"]
    if converge:
        found.append(f"{'converge':<9} {service} ({'; '.join(converge)})")
    return found


def stopping_line(service: str) -> str:
    """The step before InfluxDB's converge changes the account Telegraf writes with."""
    return f"{'stopping':<9} {service} (its InfluxDB account changes: it must not write meanwhile)"


def differences(spec: ContainerSpec, labels: dict[str, str]) -> list[str]:
    wanted = spec.labels()
    reasons = []
    if labels.get(f"{LABEL}.image") != wanted[f"{LABEL}.image"]:
        reasons.append(f"image {labels.get(f'{LABEL}.image')} -> {wanted[f'{LABEL}.image']}")
    if labels.get(f"{LABEL}.settings") != wanted[f"{LABEL}.settings"]:
        reasons.append("settings changed")
    try:
        old = json.loads(labels.get(f"{LABEL}.config") or "{}")
    except ValueError:
        old = {}
    new = spec.config_files()
    changed = sorted(p for p in set(old) | set(new) if old.get(p) != new.get(p))
    if changed:
        reasons.append("config changed: " + ", ".join(changed))
    return reasons


def live_changes(spec: ContainerSpec, deployed: dict[str, dict[str, str]]) -> list[str]:
    """Files of live folders that differ from what the volume holds (deployed: folder -> hashes)."""
    changed = []
    for volume in spec.config_volumes:
        if volume.live:
            old, new = deployed.get(volume.folder, {}), volume.hashes()
            changed += [
                f"{volume.folder}/{p}" for p in sorted(set(old) | set(new)) if old.get(p) != new.get(p)
            ]
    return changed


def make_plan(
    specs: list[ContainerSpec],
    existing: Mapping[str, Existing],
    live: dict[str, dict[str, dict[str, str]]],
    desired: dict[str, Desired] | None = None,
    recorded: dict[str, dict[str, Any] | None] | None = None,
) -> list[Action]:
    """existing: service -> container; live: service -> folder -> file hashes deployed there;
    desired/recorded: service -> converge state wanted / last recorded in its data volume."""
    desired, recorded = desired or {}, recorded or {}
    wanted = {s.service.name for s in specs}
    actions = [
        Action(name, "remove", ["no longer in the stack"], container=c)
        for name, c in sorted(existing.items())
        if name not in wanted
    ]
    rerun: set[str] = set()
    for spec in specs:
        name = spec.service.name
        container = existing.get(name)
        if container is None:
            action = Action(name, "create", spec=spec)
        else:
            reasons = differences(spec, container.labels)
            reasons += [f"{dep} re-ran" for dep in spec.service.depends_on if dep in rerun]
            if reasons:
                action = Action(name, "recreate", reasons, spec, container)
            elif container.status != "running" and not spec.service.one_shot:
                action = Action(name, "start", [f"was {container.status}"], spec, container)
            elif changed := live_changes(spec, live.get(name, {})):
                action = Action(name, "update", [f"re-read in place: {', '.join(changed)}"], spec, container)
            else:
                action = Action(name, "keep", spec=spec, container=container)
        if name in desired:
            action.converge = changes(desired[name], recorded.get(name))
            if not action.converge and container is not None and container.health == "unhealthy":
                action.converge, action.recheck = [UNHEALTHY], True
        if spec.service.one_shot and action.replaces:
            rerun.add(name)
        actions.append(action)
    return actions
