"""InfluxDB 2.7: the bucket's retention, the tiers' buckets and tasks, by the `influx` CLI in the
container with the operator token."""

import json
import math
import shlex
from typing import Any

from polysource import secrets
from polysource.deploy.converge.tiers import backfill_since, heal_every_s, heal_for_s, resample_window_s
from polysource.durations import seconds
from polysource.errors import DeployError
from polysource.runtime.influx import Exec
from polysource.secrets import SecretValues
from polysource.stack import paths
from polysource.stack.model import InfluxFacts
from polysource.stack.queries import (
    INFLUX2_CLI,
    downsample_flux,
    downsample_name,
)

INFLUX2_ANSWERS = 'curl -fsS -o /dev/null "http://$HOSTNAME:{port}/health"'


def influx2(
    box: Exec, token: str, args: str, stdin_var: str | None = None, env: dict[str, str] | None = None
) -> Any:
    """Runs `influx ARGS` (2.x) with the operator token; lists come back as JSON."""
    if " list" in args:
        args += " --json"
    command = INFLUX2_CLI.format(args=args, port=paths.INFLUX_PORT)
    if stdin_var:
        command = f'printf "%s\\n" "${stdin_var}" | {command}'
    code, output = box.run(["sh", "-c", command], {"INFLUX_TOKEN": token, **(env or {})})
    if code != 0:
        raise DeployError(f"influxdb: `influx {args.split(' --')[0]}` failed: {output.strip()[-300:]}")
    lines = output.splitlines()
    for i, line in enumerate(lines):  # warnings may come first, on the same stream
        if line.startswith(("[", "{")):
            try:
                return json.loads("\n".join(lines[i:]))
            except ValueError:
                continue
    return None


def converge_influx2(
    box: Exec, influx: InfluxFacts, values: SecretValues, recorded: dict[str, Any] | None
) -> None:
    token = values[influx.writer.password]
    org, bucket = shlex.quote(influx.organization), shlex.quote(influx.database)
    if not influx2(box, token, f"org list --name {org}"):
        influx2(box, token, f"org create --name {org}")
    every = seconds(influx.retention)
    retention = "0" if math.isinf(every) else influx.retention
    buckets = buckets_by_name(box, token, org)
    found = [buckets[influx.database]] if influx.database in buckets else []
    if not found:
        influx2(box, token, f"bucket create --org {org} --name {bucket} --retention {retention}")
    else:
        rules = found[0].get("retentionRules") or [{}]
        if rules[0].get("everySeconds", 0) != (0 if math.isinf(every) else int(every)):
            influx2(box, token, f"bucket update --id {shlex.quote(found[0]['id'])} --retention {retention}")
    _converge_tiers2(box, influx, token, org, buckets)
    admin = str(influx.admin.user)
    digest = secrets.digest(influx.admin.password, values[influx.admin.password])
    if (recorded or {}).get("secrets", {}).get(f"password of user {admin}") != digest:
        users = influx2(box, token, f"user list --name {shlex.quote(admin)}") or []
        if not users:
            influx2(box, token, f"user create --name {shlex.quote(admin)} --org {org}")
        influx2(
            box,
            token,
            f"user password --name {shlex.quote(admin)}",
            stdin_var="POLYSOURCE_PASSWORD",
            env={"POLYSOURCE_PASSWORD": values[influx.admin.password]},
        )


def buckets_by_name(box: Exec, token: str, org: str) -> dict[str, dict[str, Any]]:
    """The organization's buckets by name (`bucket list --name` fails when there is none);
    org: shell-quoted."""
    return {b["name"]: b for b in influx2(box, token, f"bucket list --org {org}") or []}


def task_script(name: str, every: str, body: str) -> str:
    """An InfluxDB 2 task: Flux wants the imports first, then the task's options, then the query."""
    lines = body.split("\n")
    imports = [line for line in lines if line.startswith("import ")]
    query = "\n".join(line for line in lines if not line.startswith("import ")).strip("\n")
    head = "\n".join(imports) + "\n\n" if imports else ""
    return f"{head}option task = {{name: {json.dumps(name)}, every: {every}}}\n\n{query}\n"


def _converge_tiers2(
    box: Exec, influx: InfluxFacts, token: str, org: str, buckets: dict[str, dict[str, Any]]
) -> None:
    """Buckets and tasks for the long-term series, and a backfill for each new task."""
    tasks = {t["name"]: t["id"] for t in influx2(box, token, f"task list --org {org}") or []}
    wanted: set[str] = set()
    since = f"-{backfill_since(influx)}"
    for tier in influx.tiers:
        keep = "0" if tier.keep == "inf" else tier.keep
        found = [buckets[tier.name]] if tier.name in buckets else []
        if not found:
            influx2(
                box, token, f"bucket create --org {org} --name {shlex.quote(tier.name)} --retention {keep}"
            )
        elif (found[0].get("retentionRules") or [{}])[0].get("everySeconds", 0) != (
            0 if tier.keep == "inf" else int(seconds(tier.keep))
        ):
            influx2(box, token, f"bucket update --id {shlex.quote(found[0]['id'])} --retention {keep}")
        for source in tier.sources:
            # the same windows as InfluxDB 1's RESAMPLE and its healing query: the task's now()
            # is its interval's end; the healing stops at the interval in progress
            regular = downsample_flux(influx, tier, source, f"-{resample_window_s(tier.every)}s")
            healing = downsample_flux(
                influx, tier, source, f"-{heal_for_s(influx, tier.every)}s", backfill=True
            )
            for body, every in ((regular, tier.every), (healing, f"{heal_every_s(tier.every)}s")):
                name = downsample_name(tier, source, body)
                wanted.add(name)
                if name in tasks:
                    continue
                env = {"POLYSOURCE_FLUX": task_script(name, every, body)}
                influx2(box, token, f"task create --org {org} -", stdin_var="POLYSOURCE_FLUX", env=env)
                if body is regular:
                    whole = {"POLYSOURCE_FLUX": downsample_flux(influx, tier, source, since, backfill=True)}
                    influx2(box, token, f"query --org {org} -", stdin_var="POLYSOURCE_FLUX", env=whole)
    for name, task_id in sorted(tasks.items()):
        if name.startswith("polysource_") and name not in wanted:
            influx2(box, token, f"task delete --id {shlex.quote(task_id)}")


# --- Grafana ------------------------------------------------------------------------------------
