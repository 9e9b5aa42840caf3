"""The one-way flow: inventory file -> model -> stack -> files -> output/."""

import datetime
import gc
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from polysource.inventory import load_inventory
from polysource.inventory.model import Inventory
from polysource.render.fingerprint import inputs_digest
from polysource.render.manifest import same_but_inputs, unchanged
from polysource.stack import Stack, build_stack, paths
from polysource.workspace import current_output, drift, repository_root, unified_diff, write_output


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


def _render(stack: Stack, output: Path) -> dict[str, bytes]:
    from polysource.render.files import render_files  # grafanalib and Jinja: only when rendering

    with _collector_paused():
        return render_files(stack, output)


def fresh_files(inventory: Path, output: Path) -> dict[str, bytes]:
    with _collector_paused():
        return _render(load_stack(inventory), output)


def current_files(stack: Stack, output: Path) -> tuple[dict[str, bytes], list[str]]:
    """output/'s files as a fresh render writes them, and the paths where output/ differs from
    one (none: it is current). When output/'s manifest names the digest of what a render would
    read now, and every file has its hash, output/ is read instead of rendered again. A manifest
    that differs only by that digest (a comment in the inventory, a newer polysource rendering
    the same files) is current."""
    inputs = inputs_digest(stack, output, repository_root(output.resolve()))
    existing = current_output(output)
    if inputs is not None and unchanged(existing, inputs):
        return existing, []
    files = _render(stack, output)
    stale = drift(output, files)
    if paths.MANIFEST in stale and same_but_inputs(existing.get(paths.MANIFEST, b""), files[paths.MANIFEST]):
        stale.remove(paths.MANIFEST)
    return files, stale


def render_output(inventory: Path, output: Path) -> list[str]:
    return write_output(output, fresh_files(inventory, output))


def render_with_stack(inventory: Path, output: Path) -> tuple[Stack, list[str], Path | None]:
    """Render, and hand back the stack for what the command says about it (disk use), and the
    folder of the CA it made for the managed broker, if it made one (the first render)."""
    with _collector_paused():
        model, base = load_inventory(inventory)
        made = make_ca(model, base)
        stack = build_stack(model, base, inventory.name)
        files = _render(stack, output)
    return stack, write_output(output, files), made


def make_ca(model: Inventory, base: Path) -> Path | None:
    """The managed broker's CA, made beside the inventory when it has none (polysource.pki)."""
    if not any(b.managed and b.effective_transport.encrypted for b in model.brokers.values()):
        return None
    from polysource import pki  # cryptography: only for a managed broker with TLS

    folder = base / paths.pki_folder(model.project)
    return folder if pki.make_ca(folder, model.project, datetime.datetime.now(datetime.UTC)) else None


def check_output(inventory: Path, output: Path) -> list[str]:
    return drift(output, fresh_files(inventory, output))


def diff_output(inventory: Path, output: Path) -> str:
    return unified_diff(output, fresh_files(inventory, output))
