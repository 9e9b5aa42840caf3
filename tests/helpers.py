"""Shared helpers for the tests: paths, a CLI runner, inventories written on the fly."""

import contextlib
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from click.testing import CliRunner, Result

from polysource.cli import main

ROOT = Path(__file__).resolve().parents[1]
INVENTORIES = ROOT / "inventory"
SEED = INVENTORIES / "polysource.yml"
VENDOR = ROOT / "tests" / "vendor"


def run_cli(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def write_inventory(folder: Path, text: str, name: str = "inventory.yml") -> Path:
    """The inventory file, and for a managed broker with TLS the CA its first render makes."""
    path = folder / name
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    if "managed: true" in text:
        make_ca_for(path)
    return path


def make_ca_for(inventory: Path) -> None:
    """What the first `polysource render` does for a managed broker with TLS: make its CA."""
    from polysource.errors import PolysourceError
    from polysource.inventory import load_inventory
    from polysource.pipeline import make_ca

    with contextlib.suppress(PolysourceError):  # an inventory a test means to be refused
        make_ca(*load_inventory(inventory))


MINIMAL = """\
project: demo
brokers:
  cloud:
    host: broker.example.test
    username: pi
    password: ${MQTT_PASSWORD}
streams:
  capteurs:
    broker: cloud
    topic: polysource/capteurs
    format: {value: valeur, sensor: idCapteur, unit: unite}
sensors:
  Test_4G: {stream: capteurs, unit: m}
"""


@contextlib.contextmanager
def steadily(send: Callable[[float], None], every: float) -> Iterator[list[float]]:
    """Publish readings 0, 1, 2, ... every `every` seconds in a thread, as a busy board would;
    yields the list of values sent so far."""
    sent: list[float] = []
    stop = threading.Event()

    def board() -> None:
        value = 0.0
        while not stop.is_set():
            send(value)
            sent.append(value)
            value += 1
            time.sleep(every)

    worker = threading.Thread(target=board)
    worker.start()
    try:
        yield sent
    finally:
        stop.set()
        worker.join()


def rendered_then_changed(tmp_path: Path) -> tuple[Path, Path, dict[Path, bytes]]:
    """MINIMAL rendered into out/, then the inventory changed: (inventory, out, out/ as it was)."""
    inventory = write_inventory(tmp_path, MINIMAL)
    out = tmp_path / "out"
    assert run_cli("render", "-i", str(inventory), "-o", str(out)).exit_code == 0
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    write_inventory(tmp_path, MINIMAL.replace("polysource/capteurs", "lab/capteurs"))
    return inventory, out, before


def service_rows(status_output: str) -> dict[str, list[str]]:
    """`status`'s first table (services or swarm tasks), by its first column."""
    lines = status_output.split("\n\n")[0].splitlines()[1:]
    return {line.split()[0]: line.split() for line in lines if line.strip()}


def all_secrets(stack) -> list:
    """What deploy hands the containers: the user's secrets and those polysource makes."""
    return [*stack.secrets, *stack.made_secrets]
