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


host_option = click.option(
    "--host",
    metavar="URL",
    help="Docker host (unix://, tcp://, ssh://user@pi); default: the inventory's target.docker_host.",
)


@main.command()
@inventory_option
@output_option
@host_option
@click.option("--dry-run", is_flag=True, help="Print the plan, one line per service; change nothing.")
@click.option("--timeout", default=120, show_default=True, help="Seconds to wait for each service.")
@reports_errors
def deploy(inventory: Path, output: Path, host: str | None, dry_run: bool, timeout: int) -> None:
    """Make the Docker host run exactly what the output folder describes.

    Only what changed is touched: a service is re-created when its image, its settings or one
    of its config files changed, and the old container is kept until the new one is healthy.
    Data volumes are never removed (see `down --volumes`). Secrets come from the environment
    or the .env beside the inventory.

    \b
    Examples:
      polysource deploy --dry-run
      polysource deploy --host ssh://pi@raspberrypi.local
    """
    from polysource.deploy import run

    target = run.prepare(inventory, output, host)
    actions = run.plan(target)
    if dry_run:
        for action in actions:
            click.echo(str(action))
        return
    run.deploy(target, actions, timeout, click.echo)
    changed = sum(a.changes for a in actions)
    click.echo(f"{target.stack.name}: {changed} change(s), {len(actions) - changed} service(s) kept")


@main.command()
@inventory_option
@output_option
@host_option
@reports_errors
def status(inventory: Path, output: Path, host: str | None) -> None:
    """Show each service: image, state, health, and whether it matches the output folder."""
    from polysource.deploy import run

    rows = run.status(run.prepare(inventory, output, host))
    header = ("SERVICE", "IMAGE", "STATE", "HEALTH", "UP TO DATE")
    table = [header] + [(r.service, r.image, r.state, r.health, r.current) for r in rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    for row in table:
        click.echo("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())


@main.command()
@inventory_option
@output_option
@host_option
@click.option("--volumes", is_flag=True, help="Also delete the data volumes (InfluxDB, Grafana, broker).")
@reports_errors
def down(inventory: Path, output: Path, host: str | None, volumes: bool) -> None:
    """Stop and remove the stack's containers; data volumes stay unless --volumes."""
    from polysource.deploy import run

    run.down(run.prepare(inventory, output, host, full=False), volumes, click.echo)


@main.command()
@inventory_option
@output_option
@host_option
@click.argument("service")
@click.option("-f", "--follow", is_flag=True, help="Keep printing new lines.")
@click.option("--tail", default=100, show_default=True, help="Lines from the end to start with.")
@reports_errors
def logs(inventory: Path, output: Path, host: str | None, service: str, follow: bool, tail: int) -> None:
    """Print a service's logs, e.g. `polysource logs telegraf -f` to watch rejected payloads."""
    from polysource.deploy import run

    for chunk in run.logs(run.prepare(inventory, output, host, full=False), service, follow, tail):
        click.echo(chunk.decode(errors="replace"), nl=False)
