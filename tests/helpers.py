"""Shared helpers for the tests: paths, a CLI runner, inventories written on the fly."""

import textwrap
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
    path = folder / name
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return path


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
