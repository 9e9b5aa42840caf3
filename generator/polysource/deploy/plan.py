"""What deploy will do, per service, and why: the part --dry-run prints."""

import json
from dataclasses import dataclass, field
from typing import Any

from polysource.deploy.spec import LABEL, ContainerSpec


@dataclass
class Action:
    service: str
    verb: str  # create | recreate | start | update | keep | remove
    reasons: list[str] = field(default_factory=list)
    spec: ContainerSpec | None = None
    container: Any = None

    def __str__(self) -> str:
        why = f" ({'; '.join(self.reasons)})" if self.reasons else ""
        return f"{self.verb:<9} {self.service}{why}"

    @property
    def changes(self) -> bool:
        return self.verb != "keep"


def differences(spec: ContainerSpec, labels: dict[str, str]) -> list[str]:
    wanted = spec.labels()
    reasons = []
    if labels.get(f"{LABEL}.image") != wanted[f"{LABEL}.image"]:
        reasons.append(f"image {labels.get(f'{LABEL}.image')} -> {wanted[f'{LABEL}.image']}")
    if labels.get(f"{LABEL}.settings") != wanted[f"{LABEL}.settings"]:
        reasons.append("settings changed")
    old = json.loads(labels.get(f"{LABEL}.config") or "{}")
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
    specs: list[ContainerSpec], existing: dict[str, Any], live: dict[str, dict[str, dict[str, str]]]
) -> list[Action]:
    """existing: service -> container; live: service -> folder -> file hashes deployed there."""
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
        if spec.service.one_shot and action.verb in ("create", "recreate"):
            rerun.add(name)
        actions.append(action)
    return actions
