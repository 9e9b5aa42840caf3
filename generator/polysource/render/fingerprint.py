"""What a render reads, as one digest: polysource's own code and templates, the inventory file,
the CA files it names, where the inventory and output/ are in their repository (the compose file
and the timers name them so) and the timers' working folder. render records it in manifest.json;
deploy takes output/ as a fresh render when the digest and every file's hash still match, without
rendering again (importing grafanalib and Jinja and rendering were a third of a no-op deploy). A
render that runs users' code (dashboard modules beside the inventory) has no digest: only
rendering tells.

Light on purpose: it imports neither grafanalib nor Jinja.
"""

import functools
import hashlib
import os
from pathlib import Path

from polysource.render.timers import working_directory
from polysource.resources import templates_dir
from polysource.stack import Stack, paths

PACKAGE = Path(__file__).resolve().parents[1]


@functools.cache
def code_digest() -> bytes:
    """Every file polysource renders with (modules, templates, the boards' library), once a run."""
    digest = hashlib.sha256()
    for root in (PACKAGE, templates_dir()):
        for path in sorted(root.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                digest.update(f"{path.relative_to(root)}\0".encode())
                digest.update(path.read_bytes())
    return digest.digest()


def inputs_digest(stack: Stack, output: Path, repository: Path) -> str | None:
    folder = stack.inventory_dir / paths.CUSTOM_DASHBOARDS_DIR
    if folder.is_dir() and any(folder.glob(f"*{paths.CUSTOM_DASHBOARD_SUFFIX}")):
        return None
    try:
        inventory = stack.inventory_path.read_bytes()
    except OSError:
        return None  # gone since it was loaded: a render says what is wrong
    digest = hashlib.sha256(code_digest())
    # Where things are relative to the repository, as the compose file and the timers name them:
    # the same checkout anywhere (a clone, CI) has the same digest.
    places = (stack.inventory_path.resolve(), output.resolve())
    where = (*(os.path.relpath(place, repository) for place in places), working_directory(output))
    for part in (inventory, *(text.encode("utf-8", "surrogateescape") for text in where)):
        digest.update(len(part).to_bytes(8, "big") + part)
    for name, broker in sorted(stack.brokers.items()):  # a board's CA is its broker's, or shipped
        if broker.ca:
            digest.update(name.encode() + b"\0" + broker.ca.pem)
    return "sha256:" + digest.hexdigest()
