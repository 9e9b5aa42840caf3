"""The polysource command line: thin click commands over plain functions.

polysource's own errors are caught once, in the group, and printed as lines with their exit
status (2 for a bad inventory, 1 otherwise); Ctrl-C ends a command with status 130, quietly.
"""

import json
import math
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import click

from polysource import __version__
from polysource.errors import PolysourceError

DEFAULT_INVENTORY = Path("inventory/polysource.yml")
DEFAULT_OUTPUT = Path("output")


class Group(click.Group):
    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except PolysourceError as error:
            click.echo(str(error), err=True)
            ctx.exit(error.exit_code)
        except KeyboardInterrupt:
            click.echo("\ninterrupted", err=True)
            ctx.exit(130)


class Finite(click.ParamType):  # type: ignore[type-arg]  # generic from click 8.4 on
    """A float that is a number (no nan, no inf), within bounds."""

    name = "number"

    def __init__(self, low: float | None = None, high: float | None = None, low_open: bool = False):
        self.low, self.high, self.low_open = low, high, low_open

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> float:
        try:
            number = float(value)
        except (TypeError, ValueError):
            self.fail(f"{value!r} is not a number", param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number", param, ctx)
        if self.low is not None and (number <= self.low if self.low_open else number < self.low):
            self.fail(f"{value} is below the smallest accepted value ({self.low})", param, ctx)
        if self.high is not None and number > self.high:
            self.fail(f"{value} is above the largest accepted value ({self.high})", param, ctx)
        return number


def _path_option(
    short: str, long: str, default: Path, file: bool, help: str
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    kind = click.Path(path_type=Path, dir_okay=not file, file_okay=file)
    return click.option(short, long, type=kind, default=default, show_default=True, help=help)


inventory_option = _path_option("-i", "--inventory", DEFAULT_INVENTORY, True, "The inventory YAML file.")
output_option = _path_option("-o", "--output", DEFAULT_OUTPUT, False, "Folder the stack is rendered into.")
host_option = click.option(
    "--host",
    metavar="URL",
    help="Docker host (unix://, tcp://, ssh://user@pi); default: the inventory's target.docker_host.",
)
tag_option = click.option(
    "--tag", "tags", multiple=True, metavar="NAME=VALUE", help="Value for a {NAME} topic level (repeatable)."
)


def _tags(pairs: tuple[str, ...]) -> dict[str, str]:
    tags: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"expected NAME=VALUE, got {pair!r}", param_hint="--tag")
        tags[key] = value
    return tags


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="polysource")
def main() -> None:
    """Run a sensor-to-dashboard stack (MQTT -> Telegraf -> InfluxDB -> Grafana) as code.

    \b
    Typical session:
      polysource render            # inventory/polysource.yml -> output/
      git diff output/             # review what changes on the Pi
      polysource deploy --dry-run  # the plan
      polysource deploy            # make the Pi run it
      polysource verify            # a reading, followed into InfluxDB
    """


@main.command()
@inventory_option
@output_option
@click.option("--check", is_flag=True, help="Write nothing; exit 1 naming files that differ.")
def render(inventory: Path, output: Path, check: bool) -> None:
    """Render the whole stack from the inventory into the output folder.

    \b
    Examples:
      polysource render
      polysource render -i inventory/school.yml -o build/school
      polysource render --check
    """
    from polysource.pipeline import check_output, render_with_stack
    from polysource.stack import durability, permissions, throughput
    from polysource.stack.sizing import describe, estimate

    if check:
        drifted = check_output(inventory, output)
        if drifted:
            for path in drifted:
                click.echo(f"{output / path}: differs from a fresh render", err=True)
            click.echo("output is stale: run `polysource render`", err=True)
            sys.exit(1)
        click.echo(f"{output}: up to date with {inventory}")
        return
    stack, changed, made = render_with_stack(inventory, output)
    if made:
        click.echo(
            f"made the managed broker's CA in {made}: commit ca.pem (boards and Telegraf pin it); "
            "ca.key stays out of git (.gitignore there): back it up, deploy signs the broker's "
            "certificate with it"
        )
    if not changed:
        click.echo(f"{output}: already up to date with {inventory}")
    for path in changed:
        click.echo(f"wrote {output / path}")
    notes = [
        *describe(estimate(stack)),
        *durability.describe(stack),
        *throughput.describe(throughput.capacity(stack)),
    ]
    for line in [*notes, *permissions.describe(stack)]:
        click.echo(line, err=line.startswith("warning"))


@main.command()
@inventory_option
@output_option
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


@main.command()
@inventory_option
@output_option
@host_option
@click.option("--dry-run", is_flag=True, help="Print the plan, one line per service; change nothing.")
@click.option(
    "--timeout", type=click.IntRange(1, 3600), default=120, show_default=True, help="Seconds per service."
)
def deploy(inventory: Path, output: Path, host: str | None, dry_run: bool, timeout: int) -> None:
    """Make the Docker host run exactly what the output folder describes.

    Only what changed is touched: a service is re-created when its image, its settings or one
    of its config files changed, and the old container is kept until the new one is ready.
    InfluxDB's database, users, passwords and retention and Grafana's admin password are
    converged whenever they differ from the inventory. Data volumes are never removed (see
    `down --volumes`). Secrets come from the environment or the .env beside the inventory.

    \b
    Examples:
      polysource deploy --dry-run
      polysource deploy --host ssh://pi@raspberrypi.local
    """
    from polysource.deploy import run
    from polysource.deploy.executor import executor_for

    target = run.prepare(inventory, output, host, renew=not dry_run)
    if (issued := target.issued) and issued.renewed:
        kept = "" if dry_run else f", kept in {issued.folder}"
        click.echo(
            f"{'would issue' if dry_run else 'issued'} the broker's certificate "
            f"(valid until {issued.not_after:%Y-%m-%d}){kept}"
        )
    executor = executor_for(target)
    plan = executor.plan()
    if dry_run:
        for line in plan.lines:
            click.echo(line)
        for line in plan.blockers:
            click.echo(line, err=True)
        if summary := plan.summary(target.stack.name, done=False):
            click.echo(summary)
        sys.exit(1 if plan.blockers else 0)
    executor.apply(plan, timeout, click.echo)
    click.echo(plan.summary(target.stack.name, done=True))


@main.command()
@inventory_option
@output_option
@host_option
@click.option("--all", "all_sensors", is_flag=True, help="List every sensor, not only silent ones.")
def status(inventory: Path, output: Path, host: str | None, all_sensors: bool) -> None:
    """Show each service (image, state, health, whether it matches the inventory, and why not),
    then each sensor's last reading, flagging sensors silent for several of their intervals.

    \b
    Examples:
      polysource status
      polysource status --all     # every sensor, even at 10,000
    """
    from polysource.deploy import run
    from polysource.deploy.executor import executor_for
    from polysource.errors import InfluxError
    from polysource.field.silence import sensor_states
    from polysource.runtime.influx import data_disk, reader_on
    from polysource.stack.sizing import describe_free, estimate

    target = run.prepare(inventory, output, host)
    executor = executor_for(target)
    _table(executor.status())
    click.echo()
    now = time.time()
    try:
        reader = reader_on(executor.containers, target.stack, target.values)
        states = sensor_states(reader, target.stack, now)
    except InfluxError as error:
        click.echo(f"sensors: cannot read their last readings: {error}", err=True)
        return
    shown = [s for s in states if all_sensors or len(states) <= SENSORS_SHOWN or s.flagged]
    flagged = sum(s.flagged for s in states)
    table = [("SENSOR", "LAST READING", "VALUE", "STATE")]
    for s in shown:
        when = "none in 30 days" if s.last is None else f"{_ago(now - s.last)} ago"
        value = "-" if s.value is None else f"{s.value:g} {s.unit}"
        table.append((s.sensor, when, value, s.state.upper() if s.flagged else s.state))
    if len(table) > 1:
        _table(table)
    quiet = target.stack.silent_after
    click.echo(f"{len(states)} sensor(s), {flagged} silent (nothing for {quiet} of their intervals)")
    space = data_disk(reader)
    for line in describe_free(estimate(target.stack), *space) if space else []:
        click.echo(line, err=line.startswith("warning"))


SENSORS_SHOWN = 50  # above, status lists only the silent ones unless --all


@main.command()
@inventory_option
@output_option
@host_option
def watch(inventory: Path, output: Path, host: str | None) -> None:
    """Record the stack's containers once (restarts, running, healthy, back from a kill) in
    InfluxDB, as pi_container: the "Pi" dashboard shows them and an alert fires on a restart
    loop. On a swarm, each service's running task. The timer render writes (output/watch/) runs
    it every minute; Docker's socket stays out of Telegraf.

    \b
    Examples:
      polysource watch
      cp output/watch/* ~/.config/systemd/user/ && systemctl --user enable --now PROJECT-watch.timer
    """
    from polysource.deploy import run
    from polysource.field.watch import watch as record
    from polysource.runtime.containers import containers_for

    target = run.prepare(inventory, output, host)
    where = containers_for(target.stack, target.engine)
    for line in record(where, target.stack, target.values, int(time.time())):
        click.echo(line)


def _ago(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.0f}{unit}"
    return f"{max(seconds, 0):.0f}s"


def _table(rows: Sequence[tuple[str, ...]]) -> None:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        click.echo("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())


@main.command()
@inventory_option
@output_option
@host_option
@click.option(
    "--to",
    "folder",
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder for the archive; default: the inventory's backup.to (relative to the inventory).",
)
def backup(inventory: Path, output: Path, host: str | None, folder: Path | None) -> None:
    """Back up the running stack into one dated archive on this machine.

    InfluxDB is backed up live by its own tool; Grafana is paused for the seconds its SQLite
    files are copied; the rendered output and the inventory go in too. Older archives beyond
    backup.keep are removed.

    \b
    Examples:
      polysource backup
      polysource backup --to /media/usb/backups --host ssh://pi@raspberrypi.local
    """
    from polysource.backup.run import take
    from polysource.deploy import run
    from polysource.deploy.executor import executor_for

    target = run.prepare(inventory, output, host)
    settings = target.stack.backup
    destination = folder or (target.stack.inventory_dir / settings.to)
    take(executor_for(target), output, inventory, destination, settings.keep, click.echo)


@main.command()
@inventory_option
@output_option
@host_option
@click.argument("archive", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--timeout", type=click.IntRange(1, 3600), default=120, show_default=True, help="Seconds per service."
)
def restore(inventory: Path, output: Path, host: str | None, archive: Path, timeout: int) -> None:
    """Put a backup's readings and Grafana's data back into the deployed stack.

    Readings are added to what the stack holds (nothing it wrote since is lost); Grafana's data
    folder is replaced; users and passwords stay the inventory's.

    \b
    Examples (a new SD card):
      polysource deploy
      polysource restore backups/polysource-20261128T030000Z.tar.gz
    """
    from polysource.backup.run import restore as restore_archive
    from polysource.deploy import run
    from polysource.deploy.executor import executor_for

    restore_archive(executor_for(run.prepare(inventory, output, host)), archive, timeout, click.echo)


@main.command()
@inventory_option
@output_option
@host_option
@click.option("--volumes", is_flag=True, help="Also delete the data volumes (InfluxDB, Grafana, broker).")
def down(inventory: Path, output: Path, host: str | None, volumes: bool) -> None:
    """Stop and remove the stack's containers; data volumes stay unless --volumes."""
    from polysource.deploy import run
    from polysource.deploy.executor import executor_for

    executor_for(run.prepare(inventory, output, host, full=False)).down(volumes, click.echo)


@main.command()
@inventory_option
@output_option
@host_option
@click.argument("service")
@click.option("-f", "--follow", is_flag=True, help="Keep printing new lines.")
@click.option(
    "--tail", type=click.IntRange(0, 1_000_000), default=100, show_default=True, help="Lines to start with."
)
def logs(inventory: Path, output: Path, host: str | None, service: str, follow: bool, tail: int) -> None:
    """Print a service's logs, e.g. `polysource logs telegraf -f` to watch rejected payloads."""
    from polysource.deploy import run
    from polysource.deploy.executor import executor_for, logs

    executor = executor_for(run.prepare(inventory, output, host, full=False))
    for chunk in logs(executor, service, follow, tail):
        click.echo(chunk.decode(errors="replace"), nl=False)


@main.command()
@inventory_option
@click.argument("brokers", nargs=-1)
@click.option("--json", "as_json", is_flag=True, help="The same report as JSON, for scripts.")
@click.option("--device", "board", metavar="BOARD", help="Make this board's handshake instead (devices:).")
def doctor(inventory: Path, brokers: tuple[str, ...], as_json: bool, board: str | None) -> None:
    """Check every broker endpoint hop by hop and say which hop fails and what to do.

    DNS, TCP (refused vs silently dropped vs no route), TLS (trust, host name, expiry),
    MQTT CONNECT with the inventory's credentials, SUBSCRIBE to each stream's topic; then
    InfluxDB and Grafana on the target (optional). Exit 0 only when every broker hop is fine.
    DNS, TCP and TLS run without secrets; the MQTT hops need the broker's.

    With --device, the board's own handshake, from the laptop: TLS 1.2 only, its server name,
    the CA its firmware carries, its account, and an empty message to each of its topics
    (Telegraf stores nothing from an empty message).

    \b
    Examples:
      polysource doctor
      polysource doctor hivemq --json
      polysource doctor --device esp32-salle1
    """
    from polysource.field.doctor import diagnose, diagnose_device
    from polysource.pipeline import load_stack

    if board and brokers:
        raise click.UsageError("name brokers or --device, not both")
    stack = load_stack(inventory)
    result = diagnose_device(stack, board) if board else diagnose(stack, list(brokers))
    if as_json:
        click.echo(json.dumps(result.as_dict(), indent=2))
    else:
        rows = [
            (c.target, c.hop, "ok" if c.ok else "FAIL", c.detail) for r in result.reports for c in r.checks
        ]
        rows += [(c.target, c.hop, "ok" if c.ok else "warn", c.detail) for c in result.services]
        _table(rows)
        for sentence in result.sentences:
            click.echo(f"\n{sentence}")
        for permission in result.permissions:
            click.echo(f"\npermission: {permission}")
        for note in result.notes:
            click.echo(f"\nwarning: {note}", err=True)
        if result.ok:
            click.echo("\nevery broker endpoint answers")
    sys.exit(0 if result.ok else 1)


@main.command()
@inventory_option
@click.argument("sensor")
@click.argument("value", type=Finite())
@tag_option
def publish(inventory: Path, sensor: str, value: float, tags: tuple[str, ...]) -> None:
    """Send one reading as SENSOR would, to its broker and topic, with its stream's QoS.

    \b
    Example (the seed's test reading):
      polysource publish Test_4G 99.9
    """
    from polysource.field.probe import publish as send
    from polysource.field.readings import reading_for
    from polysource.pipeline import load_stack

    stack = load_stack(inventory)
    reading = reading_for(stack, sensor, value, _tags(tags))
    url = send(stack, [reading])
    click.echo(f"acknowledged by {url}: {reading.topic} {reading.payload}")


@main.command()
@inventory_option
@click.argument("sensors", nargs=-1)
@click.option(
    "--rate", type=Finite(0.001, 100_000), default=1.0, show_default=True, help="Readings/s, in total."
)
@click.option(
    "--duration", type=Finite(0, 7 * 86400, low_open=True), default=60.0, show_default=True, help="Seconds."
)
@tag_option
def simulate(
    inventory: Path, sensors: tuple[str, ...], rate: float, duration: float, tags: tuple[str, ...]
) -> None:
    """Publish realistic readings within each sensor's min/max, for demos and load tests.

    \b
    Examples:
      polysource simulate --rate 2 --duration 600
      polysource simulate T_salle1 CO2_salle1 --rate 10 --duration 30
    """
    from polysource.field.probe import simulate as run
    from polysource.pipeline import load_stack

    stack = load_stack(inventory)
    chosen = list(sensors) or sorted(stack.sensors)
    sent = run(stack, chosen, rate, duration, _tags(tags), lambda n: click.echo(f"\rsent {n}", nl=False))
    click.echo(f"\rsent {sent} readings from {len(chosen)} sensor(s) in {duration:.0f}s")


@main.command()
@inventory_option
@host_option
@click.argument("sensor", required=False)
@click.option("--timeout", type=Finite(0.1, 3600), default=30.0, show_default=True, help="Seconds to wait.")
@tag_option
def verify(
    inventory: Path, host: str | None, sensor: str | None, timeout: float, tags: tuple[str, ...]
) -> None:
    """Publish a unique probe reading and follow it into InfluxDB, hop by hop.

    The reading goes to the broker as a board's would; InfluxDB is read inside its container
    through the Docker API (it publishes no port unless the inventory says `publish`).
    Exit 0 when it arrived within the timeout, 1 naming the hop where it stopped.
    Default SENSOR: the inventory's first.

    \b
    Examples:
      polysource verify
      polysource verify Test_4G --host ssh://pi@raspberrypi.local --timeout 60
    """
    from polysource.field.probe import verify as follow
    from polysource.field.readings import find_sensor, first_sensor
    from polysource.pipeline import load_stack
    from polysource.runtime.containers import containers_for
    from polysource.runtime.engine import connect

    stack = load_stack(inventory)
    sensor = sensor or first_sensor(stack)
    find_sensor(stack, sensor)  # an unknown sensor is said before any connection
    engine = connect(host or stack.docker.host)
    hops = follow(stack, containers_for(stack, engine), sensor, _tags(tags), timeout)
    for hop in hops:
        took = f"{1000 * hop.seconds:7.0f} ms" if hop.seconds is not None else "      -   "
        click.echo(f"{'ok' if hop.ok else 'FAIL':<4}  {hop.name:<12} {took}  {hop.detail}")
    sys.exit(0 if all(h.ok for h in hops) else 1)
