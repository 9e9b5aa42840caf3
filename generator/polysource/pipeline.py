"""The one-way flow: inventory file -> model -> stack -> files -> output/."""

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from polysource.inventory import load_inventory
from polysource.render.files import render_files
from polysource.stack import Stack, build_stack
from polysource.workspace import drift, unified_diff, write_output


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Loading and rendering allocate a million short-lived objects (10,000 sensors); the cyclic
    collector, triggered every 700 allocations, walks the whole growing model each time: a third
    of the render. Paused for the batch; what it would have found is collected after."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def load_stack(inventory: Path) -> Stack:
    model, base = load_inventory(inventory)
    return build_stack(model, base, inventory.name)


def fresh_files(inventory: Path, output: Path) -> dict[str, bytes]:
    with _collector_paused():
        return render_files(load_stack(inventory), output)


def render_output(inventory: Path, output: Path) -> list[str]:
    return write_output(output, fresh_files(inventory, output))


def render_with_stack(inventory: Path, output: Path) -> tuple[Stack, list[str]]:
    """Render, and hand back the stack for what the command says about it (disk use)."""
    with _collector_paused():
        stack = load_stack(inventory)
        files = render_files(stack, output)
    return stack, write_output(output, files)


def check_output(inventory: Path, output: Path) -> list[str]:
    return drift(output, fresh_files(inventory, output))


def diff_output(inventory: Path, output: Path) -> str:
    return unified_diff(output, fresh_files(inventory, output))
