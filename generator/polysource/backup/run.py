"""Take a backup of a running stack, and restore one onto a running (fresh) stack.

InfluxDB is backed up live by its own tool inside its container (`influxd backup -portable`,
or `influx backup` for 2.x): consistent, and nothing stops. Grafana keeps its state in SQLite,
whose files must be copied at one instant: Grafana is paused (frozen, not stopped; its port
stays open) for the seconds the copy takes. Everything streams through the Docker API, so a
Pi reached over ssh:// is backed up onto the laptop like a local one.

Restore writes the readings back next to what the fresh stack already holds: InfluxDB restores
into a side database (bucket), whose points are copied into the stack's with their tags, then
dropped. Grafana's data is staged and checked in a volume of its own before anything running is
touched, and its old data kept aside until Grafana answers on the new one (put back on any
failure). Then deploy converges users and passwords to the inventory.
"""

import io
import shlex
import tarfile
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from polysource.backup.archive import (
    GRAFANA_PART,
    INDEX,
    INFLUX_PART,
    OUTPUT_PREFIX,
    BackupError,
    archive_name,
    digest_file,
    extract_part,
    index,
    open_archive,
    read_index,
    to_prune,
)
from polysource.deploy.apply import probe_command, run_in_volumes, volume_helper, wait_until
from polysource.deploy.converge.influx2 import buckets_by_name, influx2
from polysource.deploy.converge.tiers import backfill_since
from polysource.deploy.executor import Executor, converge_all
from polysource.deploy.run import Target
from polysource.deploy.spec import ContainerSpec
from polysource.errors import DeployError, PolysourceError
from polysource.runtime.engine import LABEL, Box, Engine
from polysource.runtime.influx import Influx1, Influx1Refused, result_rows
from polysource.stack import paths
from polysource.stack.queries import (
    INFLUX2_CLI,
    InfluxDialect,
    downsample_flux,
    downsample_select,
    flux_string,
    influxql_identifier,
)

Echo = Callable[[str], None]
WORK_DIR = "/tmp/polysource-backup"  # inside the InfluxDB container, removed after each use
PROGRESS_EVERY = 16 << 20
# The scripts read names from the exec's environment: nothing from the inventory on a command line.
INFLUX1_RESTORE = 'influxd restore -portable -db "$POLYSOURCE_DB" -newdb "$POLYSOURCE_SIDE" "$POLYSOURCE_DIR"'


def _copy_out(box: Box, path: str, into: Path, label: str, echo: Echo) -> None:
    """Docker's tar stream of path, written to a file, with progress every 16 MB."""
    done, shown = 0, 0
    with into.open("wb") as handle:
        for chunk in box.stream_archive(path):
            handle.write(chunk)
            done += len(chunk)
            if done - shown >= PROGRESS_EVERY:
                echo(f"{label}: {done / 1e6:.0f} MB")
                shown = done
    echo(f"{label}: {done / 1e6:.1f} MB copied")


def _exec(box: Box, label: str, script: str, env: dict[str, str]) -> str:
    code, output = box.run(["sh", "-c", script], env)
    if code != 0:
        raise BackupError(f"{label} failed (exit {code}): {output.strip()[-400:]}")
    return output


def _influx_backup(box: Box, dialect: InfluxDialect, values: Any, into: Path, echo: Echo) -> None:
    command = dialect.backup()
    env = {"POLYSOURCE_DIR": WORK_DIR, "POLYSOURCE_DB": dialect.influx.database}
    env |= {name: values[secret] for name, secret in command.secrets.items()}
    echo(f"influxdb: {command.says}")
    script = command.script
    _exec(box, "influxdb: the backup", script, env)
    try:
        _copy_out(box, WORK_DIR, into, "influxdb", echo)
    finally:
        box.run(["rm", "-rf", WORK_DIR])


def _grafana_copy(box: Box, into: Path, echo: Echo) -> None:
    echo("grafana: paused while its SQLite files are copied (they must be copied at one instant)")
    box.pause()
    try:
        _copy_out(box, paths.GRAFANA_DATA, into, "grafana", echo)
    finally:
        box.unpause()


def _output_files(output: Path) -> list[Path]:
    """The manifest's files (render's own), never a board's secrets kept beside them."""
    import json

    manifest = json.loads((output / paths.MANIFEST).read_text())
    return [output / name for name in sorted(manifest["files"])] + [output / paths.MANIFEST]


def take(executor: Executor, output: Path, inventory: Path, folder: Path, keep: int, echo: Echo) -> Path:
    """Write one archive into folder, then prune the project's archives to the `keep` newest."""
    target = executor.target
    stack = target.stack
    influx_box = executor.containers.running("influxdb")
    grafana_box = executor.containers.all().get("grafana")
    folder.mkdir(parents=True, exist_ok=True)
    when = datetime.now(UTC)
    final = folder / archive_name(stack.name, when)
    partial = final.with_name(final.name + ".partial")
    with tempfile.TemporaryDirectory(dir=folder, prefix=".polysource-") as work:
        parts = [Path(work) / INFLUX_PART]
        _influx_backup(influx_box, stack.dialect, target.values, parts[0], echo)
        if grafana_box is not None and grafana_box.status == "running":
            parts.append(Path(work) / GRAFANA_PART)
            _grafana_copy(grafana_box, parts[1], echo)
        influx = {
            "version": stack.influx.version,
            "database": stack.influx.database,
            "organization": stack.influx.organization,
            "tiers": [t.name for t in stack.influx.tiers],
        }
        document = index(stack.name, when, influx, [digest_file(p) for p in parts])
        try:
            with tarfile.open(partial, "w:gz", compresslevel=6) as tar:
                info = tarfile.TarInfo(INDEX)
                info.size, info.mtime = len(document), int(when.timestamp())
                tar.addfile(info, io.BytesIO(document))
                for part in parts:
                    tar.add(part, arcname=part.name)
                for path in _output_files(output):
                    tar.add(path, arcname=OUTPUT_PREFIX + path.relative_to(output).as_posix())
                tar.add(inventory, arcname=f"{OUTPUT_PREFIX}inventory/{inventory.name}")
            partial.replace(final)
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
    echo(f"wrote {final} ({final.stat().st_size / 1e6:.1f} MB)")
    for old in to_prune(folder, stack.name, keep):
        old.unlink()
        echo(f"pruned {old} (backup.keep: {keep})")
    return final


# --- restore --------------------------------------------------------------------------------------


def _check(document: dict[str, Any], target: Target, shown: str) -> None:
    stack = target.stack
    if document.get("project") != stack.name:
        raise BackupError(
            f"{shown} is a backup of project {document.get('project')!r}, the inventory is {stack.name!r}"
        )
    influx = document.get("influxdb") or {}
    if influx.get("version") != stack.influx.version:
        raise BackupError(
            f"{shown} holds InfluxDB {influx.get('version')} data;"
            f" the stack runs InfluxDB {stack.influx.version}"
        )
    if influx.get("database") != stack.influx.database:
        raise BackupError(
            f"{shown} holds database {influx.get('database')!r};"
            f" the inventory names {stack.influx.database!r}"
        )


def _copy_influx1(box: Box, target: Target, side: str, echo: Echo) -> None:
    influx, values = target.stack.influx, target.values
    client = Influx1(box, (str(values.text(influx.admin.user)), values[influx.admin.password]))
    db, side_q = influxql_identifier(influx.database), influxql_identifier(side)
    try:
        theirs, ours = client.run(
            [f"SHOW RETENTION POLICIES ON {side_q}", f"SHOW RETENTION POLICIES ON {db}"]
        )
        kept = {row["name"] for row in result_rows(ours)}
        for row in result_rows(theirs):
            policy = influxql_identifier(row["name"])
            if row["name"] not in kept:
                echo(f"influxdb: skipped {row['name']}: no such retention policy in the inventory now")
                continue
            (result,) = client.run(
                [f"SELECT * INTO {db}.{policy}.:MEASUREMENT FROM {side_q}.{policy}./.*/ GROUP BY *"]
            )
            written = sum(r.get("written", 0) for r in result_rows(result))
            echo(f"influxdb: {written} point(s) back in {influx.database}.{row['name']}")
    except Influx1Refused as refusal:
        raise BackupError(f"influxdb: copying the restored points failed: {refusal}") from None
    finally:
        try:
            client.run([f"DROP DATABASE {side_q}"])
        except Influx1Refused:
            echo(f"influxdb: could not drop the side database {side}; drop it by hand")


def _copy_influx2(box: Box, target: Target, buckets: list[str], stamp: str, echo: Echo) -> None:
    influx = target.stack.influx
    token = target.values[influx.writer.password]
    org = influx.organization
    for bucket in buckets:
        side = f"{bucket}-restore-{stamp}"
        restore = INFLUX2_CLI.format(
            args='restore "$POLYSOURCE_DIR" --org "$POLYSOURCE_ORG" --bucket "$POLYSOURCE_BUCKET" '
            '--new-bucket "$POLYSOURCE_SIDE"',
            port=paths.INFLUX_PORT,
        )
        env = {
            "INFLUX_TOKEN": token,
            "POLYSOURCE_DIR": WORK_DIR,
            "POLYSOURCE_ORG": org,
            "POLYSOURCE_BUCKET": bucket,
            "POLYSOURCE_SIDE": side,
        }
        _exec(box, f"influxdb: influx restore of bucket {bucket}", restore, env)
        copy = (
            f"from(bucket: {flux_string(side)})\n  |> range(start: 0)\n"
            f"  |> to(bucket: {flux_string(bucket)}, org: {flux_string(org)})"
        )
        try:
            influx2(
                box,
                token,
                'query --org "$POLYSOURCE_ORG" -',
                stdin_var="POLYSOURCE_FLUX",
                env={"POLYSOURCE_FLUX": copy, "POLYSOURCE_ORG": org},
            )
            echo(f"influxdb: points of bucket {bucket} copied back")
        except DeployError as error:
            raise BackupError(str(error)) from None
        finally:
            _exec(
                box,
                "influxdb: removing the side bucket",
                INFLUX2_CLI.format(
                    args='bucket delete --org "$POLYSOURCE_ORG" --name "$POLYSOURCE_SIDE"',
                    port=paths.INFLUX_PORT,
                ),
                env,
            )


EMPTY_BACKUP = "DB metadata not changed"  # influxd restore of a database that held nothing


def _buckets_to_restore(box: Box, target: Target, document: dict[str, Any], echo: Echo) -> list[str]:
    """The raw bucket, and the archive's tier buckets the inventory still has (a tier since
    dropped is skipped, and named)."""
    influx = target.stack.influx
    existing = buckets_by_name(box, target.values[influx.writer.password], shlex.quote(influx.organization))
    wanted = [influx.database]
    for tier in document["influxdb"].get("tiers", []):
        if tier in existing:
            wanted.append(tier)
        else:
            echo(f"influxdb: skipped {tier}: no such tier in the inventory now")
    return wanted


def _rebuild_tiers(box: Box, target: Target, echo: Echo) -> None:
    """Every tier of the inventory now recomputed from the raw readings just restored (idempotent:
    a mean is written over itself): tiers added since the backup get the past, none keeps a hole."""
    influx, values = target.stack.influx, target.values
    client = Influx1(box, (str(values.text(influx.admin.user)), values[influx.admin.password]))
    since = backfill_since(influx)
    for tier in influx.tiers:
        for source in tier.sources:
            if influx.version == 1:
                try:
                    client.run([downsample_select(influx, tier, source, since)])
                except Influx1Refused as refusal:
                    raise BackupError(f"influxdb: recomputing {tier.name} failed: {refusal}") from None
            else:
                env = {"POLYSOURCE_FLUX": downsample_flux(influx, tier, source, f"-{since}", backfill=True)}
                try:
                    influx2(
                        box,
                        values[influx.writer.password],
                        f"query --org {shlex.quote(influx.organization)} -",
                        stdin_var="POLYSOURCE_FLUX",
                        env=env,
                    )
                except DeployError as error:
                    raise BackupError(str(error)) from None
        echo(f"influxdb: {tier.name} recomputed from the restored readings")


STAGE, LIVE, KEPT = "/polysource-stage", "/polysource-live", "/polysource-kept"
# POSIX globs for every entry of a folder, dot files included (busybox's find may lack -delete)
EVERYTHING = "{0}/* {0}/.[!.]* {0}/..?*"
STAGED_CHECK = f"test -f {STAGE}/grafana/grafana.db"
SWAP = f"cp -a {LIVE}/. {KEPT}/ && rm -rf {EVERYTHING.format(LIVE)} && cp -a {STAGE}/grafana/. {LIVE}/"
PUT_BACK = f"rm -rf {EVERYTHING.format(LIVE)}; cp -a {KEPT}/. {LIVE}/"


def _restore_volume(engine: Engine, spec: ContainerSpec, name: str) -> str:
    """A volume of the restore's own, labelled with the project and the role `restore`."""
    engine.create_volume(name, {f"{LABEL}.project": spec.project, f"{LABEL}.role": "restore"})
    return name


def _grafana_volume(target: Target) -> tuple[ContainerSpec, str]:
    spec = next(s for s in target.specs if s.service.name == "grafana")
    mount = next(m for m in spec.service.mounts if m.target == paths.GRAFANA_DATA)
    return spec, spec.volume_name(mount)


def _stage_grafana(target: Target, engine: Engine, part: Path, stamp: str, echo: Echo) -> str:
    """The archive's Grafana data extracted into a volume of its own and checked, before anything
    running is touched: a copy Docker refuses, or a full card, fails here, with nothing changed.
    engine: the Docker host holding Grafana's data volume (on a swarm, its task's node)."""
    spec, live = _grafana_volume(target)
    staged = _restore_volume(engine, spec, f"{live}-restore-{stamp}")
    try:
        helper = volume_helper(engine, spec, staged, f"{staged}-task")
        try:
            with part.open("rb") as handle:
                helper.put_archive("/polysource-volume", handle)
        finally:
            helper.remove(force=True)
        run_in_volumes(engine, spec, {STAGE: staged}, STAGED_CHECK)
    except PolysourceError as error:
        engine.remove_volume(staged)
        raise BackupError(
            f"grafana: the archive's data could not be staged ({error}); nothing was restored"
        ) from None
    echo("grafana: the archive's data staged and checked beside the running Grafana")
    return staged


def _swap_grafana(
    executor: Executor, engine: Engine, staged: str, stamp: str, timeout: float, echo: Echo
) -> None:
    """Grafana's data replaced by the staged copy, the old one kept until Grafana answers on the
    new one; any failure puts the old data back and starts Grafana again."""
    spec, live = _grafana_volume(executor.target)
    kept = _restore_volume(engine, spec, f"{live}-kept-{stamp}")
    echo("grafana: stopped while its data folder is replaced (the old one kept aside)")
    executor.stop("grafana", timeout)
    try:
        run_in_volumes(engine, spec, {LIVE: live, STAGE: staged, KEPT: kept}, SWAP, user="0")
        box = executor.start("grafana", timeout)
        health = probe_command(spec.service.healthcheck) if spec.service.healthcheck else ["true"]
        wait_until(box, spec, health, time.monotonic() + timeout, "answering on the restored data")
    except PolysourceError as error:
        try:
            executor.stop("grafana", timeout)
            run_in_volumes(engine, spec, {LIVE: live, KEPT: kept}, PUT_BACK, user="0")
            executor.start("grafana", timeout)
            engine.remove_volume(kept)
        except PolysourceError as again:
            raise BackupError(
                f"grafana: restoring its data failed ({error}), and so did putting the old data back "
                f"({again}): it is kept in volume {kept}; InfluxDB's readings were restored"
            ) from None
        raise BackupError(
            f"grafana: restoring its data failed ({error}); its previous data was put back and it was "
            "started again. InfluxDB's readings were restored; Grafana's were not"
        ) from None
    finally:
        engine.remove_volume(staged)
    engine.remove_volume(kept)
    echo("grafana: data folder restored, answering")


def restore(executor: Executor, archive: Path, timeout: float, echo: Echo) -> None:
    target = executor.target
    shown = str(archive)
    influx_box = executor.containers.running("influxdb")
    grafana_box = executor.containers.all().get("grafana")
    grafana_engine = executor.containers.engine_of("grafana") if grafana_box is not None else None
    stamp = datetime.now(UTC).strftime("%Y%m%d%H%M%S")
    with open_archive(archive) as tar, tempfile.TemporaryDirectory(prefix="polysource-restore-") as work:
        document = read_index(tar, shown)
        _check(document, target, shown)
        parts = document.get("parts", {})
        if INFLUX_PART not in parts:
            raise BackupError(f"{shown}: holds no InfluxDB backup")
        files = {}
        for name, expected in parts.items():
            if name not in (INFLUX_PART, GRAFANA_PART):
                continue
            files[name] = Path(work) / name
            with files[name].open("wb") as handle:
                extract_part(tar, name, expected, handle, shown)
        echo(f"{shown}: checksums match ({', '.join(sorted(files))})")
        staged = None
        if GRAFANA_PART in files and grafana_engine is not None:
            staged = _stage_grafana(target, grafana_engine, files[GRAFANA_PART], stamp, echo)
        influx = target.stack.influx
        influx_box.run(["rm", "-rf", WORK_DIR])
        with files[INFLUX_PART].open("rb") as handle:
            influx_box.put_archive(str(Path(WORK_DIR).parent), handle)
        try:
            if influx.version == 1:
                side = f"{influx.database}_restore_{stamp}"
                env = {"POLYSOURCE_DIR": WORK_DIR, "POLYSOURCE_DB": influx.database, "POLYSOURCE_SIDE": side}
                echo(f"influxdb: influxd restore -portable into the side database {side}")
                try:
                    _exec(influx_box, "influxdb: the restore", INFLUX1_RESTORE, env)
                except BackupError as error:
                    if EMPTY_BACKUP not in str(error):
                        raise
                    echo("influxdb: the archive holds no readings (taken before the first one)")
                else:
                    _copy_influx1(influx_box, target, side, echo)
            else:
                _copy_influx2(
                    influx_box, target, _buckets_to_restore(influx_box, target, document, echo), stamp, echo
                )
            _rebuild_tiers(influx_box, target, echo)
        except BaseException:
            if staged is not None and grafana_engine is not None:
                grafana_engine.remove_volume(staged)
            raise
        finally:
            influx_box.run(["rm", "-rf", WORK_DIR])
        if staged is not None and grafana_engine is not None:
            _swap_grafana(executor, grafana_engine, staged, stamp, timeout, echo)
    echo("converging the restored stack to the inventory (users, passwords)")
    converge_all(executor, timeout, echo)
