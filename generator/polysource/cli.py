"""The polysource command line: thin click commands over plain functions."""

import functools
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from polysource import __version__
from polysource.errors import PolysourceError

DEFAULT_INVENTORY = Path("inventory/polysource.yml")
DEFAULT_OUTPUT = Path("output")

inventory_option = click.option(
    "-i",
    "--inventory",
    type=click.Path(path_type=Path, dir_okay=False),
    default=DEFAULT_INVENTORY,
    show_default=True,
    help="The inventory YAML file.",
)
output_option = click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path, file_okay=False),
    default=DEFAULT_OUTPUT,
    show_default=True,
    help="Folder the stack is rendered into.",
)


def reports_errors(command: Callable[..., Any]) -> Callable[..., Any]:
    """Print polysource's own errors as lines, with their exit status; never a traceback."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except PolysourceError as error:
            click.echo(str(error), err=True)
            sys.exit(error.exit_code)

    return wrapper


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="polysource")
def main() -> None:
    """Run a sensor-to-dashboard stack (MQTT -> Telegraf -> InfluxDB -> Grafana) as code.

    \b
    Typical session:
      polysource render            # inventory/polysource.yml -> output/
      git diff output/             # review what changes on the Pi
      polysource render --check    # CI: fail when output/ is stale
    """


@main.command()
@inventory_option
@output_option
@click.option("--check", is_flag=True, help="Write nothing; exit 1 naming files that differ.")
@reports_errors
def render(inventory: Path, output: Path, check: bool) -> None:
    """Render the whole stack from the inventory into the output folder.

    \b
    Examples:
      polysource render
      polysource render -i inventory/school.yml -o build/school
      polysource render --check
    """
    from polysource.pipeline import check_output, render_output

    if check:
        drifted = check_output(inventory, output)
        if drifted:
            for path in drifted:
                click.echo(f"{output / path}: differs from a fresh render", err=True)
            click.echo("output is stale: run `polysource render`", err=True)
            sys.exit(1)
        click.echo(f"{output}: up to date with {inventory}")
        return
    changed = render_output(inventory, output)
    if not changed:
        click.echo(f"{output}: already up to date with {inventory}")
    for path in changed:
        click.echo(f"wrote {output / path}")


@main.command()
@inventory_option
@output_option
@reports_errors
def diff(inventory: Path, output: Path) -> None:
    """Print the unified diff `render` would apply to the output folder.

    Exit status 1 when there is a difference, like diff(1).
    """
    from polysource.pipeline import diff_output

    text = diff_output(inventory, output)
    click.echo(text, nl=False)
    sys.exit(1 if text else 0)


@main.command()
def schema() -> None:
    """Print the inventory's JSON Schema, for editor completion and checks.

    \b
    Example (VS Code, YAML extension), first line of the inventory:
      # yaml-language-server: $schema=../inventory.schema.json
    """
    from polysource.inventory.model import Inventory

    click.echo(json.dumps(Inventory.model_json_schema(), indent=2, sort_keys=True))
