"""Imports point down: each package of polysource imports only its own layer's and lower ones, and
no two packages import each other, even through a function-level import (those are read too)."""

import ast
from collections import defaultdict
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "generator" / "polysource"

# Lowest first. The inventory is read into the stack model; render and the runtime read the model;
# deploy and the field tools use the runtime and never each other; backup restores through deploy.
LAYERS: tuple[frozenset[str], ...] = tuple(
    frozenset(names.split())
    for names in (
        "__init__ errors regular_files resources envfile secrets services topics durations dashboard_names",
        "inventory",
        "stack",
        "views workspace render pki",
        "pipeline",
        "runtime",
        "deploy field",
        "backup",
        "cli __main__",
    )
)
PEERS_APART = {("deploy", "field"), ("field", "deploy")}


def unit(path: Path) -> str:
    """A module's package (deploy, field, ...) or, at the top, the module itself."""
    parts = path.relative_to(PACKAGE).parts
    return parts[0] if len(parts) > 1 else path.stem


def imported(path: Path) -> set[str]:
    """The polysource packages or top-level modules this file imports, anywhere in it."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "polysource":
                found |= {alias.name for alias in node.names}
            elif node.module.startswith("polysource."):
                found.add(node.module.split(".")[1])
        elif isinstance(node, ast.Import):
            found |= {a.name.split(".")[1] for a in node.names if a.name.startswith("polysource.")}
    return found - {"__version__"}


def graph() -> dict[str, set[str]]:
    edges: dict[str, set[str]] = defaultdict(set)
    for path in PACKAGE.rglob("*.py"):
        edges[unit(path)] |= imported(path) - {unit(path)}
    return edges


def layer(name: str) -> int:
    return next(i for i, names in enumerate(LAYERS) if name in names)


def test_every_package_has_a_layer():
    assert not [name for name in graph() if not any(name in names for names in LAYERS)]


def test_no_package_imports_upward_nor_its_peer():
    wrong = [
        f"{source} imports {target}"
        for source, targets in sorted(graph().items())
        for target in sorted(targets)
        if layer(target) > layer(source) or (source, target) in PEERS_APART
    ]
    assert not wrong


def test_no_cycle_between_packages():
    edges = graph()
    seen: set[str] = set()

    def visit(name: str, path: tuple[str, ...]) -> None:
        if name in path:
            pytest.fail("a cycle: " + " -> ".join((*path[path.index(name) :], name)))
        if name in seen:
            return
        for target in sorted(edges.get(name, ())):
            visit(target, (*path, name))
        seen.add(name)

    for name in sorted(edges):
        visit(name, ())


def test_the_models_service_names_are_the_services_table():
    """The inventory's `target.images` keys and swarm placement names come from services.py."""
    import re
    from typing import get_args

    from polysource.inventory.model import SWARM_SERVICE, ServiceName
    from polysource.services import IMAGES, MAX_TELEGRAFS, SERVICES

    assert get_args(ServiceName) == SERVICES
    assert {service for service, _ in IMAGES} == set(SERVICES)
    named = [*SERVICES, *(f"telegraf-{n}" for n in range(1, MAX_TELEGRAFS + 1))]
    assert all(re.match(SWARM_SERVICE, name) for name in named)
    assert not re.match(SWARM_SERVICE, f"telegraf-{MAX_TELEGRAFS + 1}")
