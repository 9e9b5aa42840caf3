"""The one-way flow: inventory file -> model -> stack -> files -> output/."""

from pathlib import Path

from polysource.inventory import load_inventory
from polysource.render.files import render_files
from polysource.stack import Stack, build_stack
from polysource.workspace import drift, unified_diff, write_output


def load_stack(inventory: Path) -> Stack:
    model, base = load_inventory(inventory)
    return build_stack(model, base, inventory.name)


def fresh_files(inventory: Path, output: Path) -> dict[str, bytes]:
    return render_files(load_stack(inventory), output)


def render_output(inventory: Path, output: Path) -> list[str]:
    return write_output(output, fresh_files(inventory, output))


def render_with_stack(inventory: Path, output: Path) -> tuple[Stack, list[str]]:
    """Render, and hand back the stack for what the command says about it (disk use)."""
    stack = load_stack(inventory)
    return stack, write_output(output, render_files(stack, output))


def check_output(inventory: Path, output: Path) -> list[str]:
    return drift(output, fresh_files(inventory, output))


def diff_output(inventory: Path, output: Path) -> str:
    return unified_diff(output, fresh_files(inventory, output))
