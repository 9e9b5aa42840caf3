"""Stateful settings made true on every deploy, not only on the image's first start.

The official images read their database, users, passwords and retention once, when the data
volume is empty (and InfluxDB 1.8's setup stops half way on names and passwords its shell script
does not quote). So after a service answers, deploy converges it with the tools inside its
image, through exec: the `influx` CLI (1.8 and 2.7) and `grafana cli`. Secrets reach those tools
through the exec's environment and standard input, never a command line.

What was converged is recorded in the service's data volume (settings in clear, secrets as
digests), so the plan can say what will change (`retention 90d -> 30d`, `password of user
telegraf`) and a deploy with nothing changed does nothing.
"""

import base64
import json
import math
import shlex
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from polysource import secrets
from polysource.durations import seconds
from polysource.errors import DeployError
from polysource.runtime.influx import Exec, Influx1, Influx1Refused, result_rows
from polysource.secrets import SecretValues
from polysource.stack import Stack, paths
from polysource.stack.model import GrafanaFacts, InfluxFacts
from polysource.stack.queries import (
    downsample_flux,
    downsample_name,
    downsample_select,
    influxql_identifier,
    influxql_string,
)

STATE_VERSION = 1
RETENTION_POLICY = "autogen"


@dataclass(frozen=True)
class Desired:
    """A service's stateful settings as the inventory and secrets want them."""

    service: str
    data_path: str  # folder of the data volume, where the record is kept
    settings: dict[str, str]  # shown in plans, old -> new
    secrets: dict[str, str] = field(default_factory=dict)  # what it protects -> digest

    def record(self) -> bytes:
        document = {"version": STATE_VERSION, "settings": self.settings, "secrets": self.secrets}
        return json.dumps(document, indent=2, sort_keys=True).encode() + b"\n"


def read_record(data: bytes | None) -> dict[str, Any] | None:
    try:
        record = json.loads(data) if data else None
    except ValueError:
        return None
    return record if isinstance(record, dict) and record.get("version") == STATE_VERSION else None


def shard_duration(retention: str) -> str:
    """InfluxDB's own shard-group defaults: 1d below 6 months of retention, 7d above."""
    return "1d" if seconds(retention) <= 180 * 86400 else "7d"


def go_duration(duration: str) -> str:
    """An inventory duration as InfluxDB 1.x shows it (90d -> 2160h0m0s, inf -> 0s)."""
    total = seconds(duration)
    if math.isinf(total):
        return "0s"
    hours, rest = divmod(int(total), 3600)
    return f"{hours}h{rest // 60}m{rest % 60}s"


def _tiers_text(influx: InfluxFacts) -> str:
    return ", ".join(f"{t.every} means kept {t.keep}" for t in influx.tiers) or "none"


def desired_state(stack: Stack, values: SecretValues) -> dict[str, Desired]:
    """service -> its desired state, for the services deploy converges."""
    influx = stack.influx
    if influx.version == 1:
        data_path = paths.INFLUXDB1_DATA
        settings = {
            "database": influx.database,
            "retention": influx.retention,
            "downsample": _tiers_text(influx),
            "admin user": str(influx.admin.user),
            "write user": str(influx.writer.user),
            "read user": str(influx.reader.user),
        }
        protected = {
            f"password of user {influx.admin.user}": influx.admin.password,
            f"password of user {influx.writer.user}": influx.writer.password,
            f"password of user {influx.reader.user}": influx.reader.password,
        }
    else:
        data_path = paths.INFLUXDB2_DATA
        settings = {
            "organization": influx.organization,
            "bucket": influx.database,
            "retention": influx.retention,
            "downsample": _tiers_text(influx),
            "admin user": str(influx.admin.user),
        }
        protected = {
            f"password of user {influx.admin.user}": influx.admin.password,
            "operator token": influx.writer.password,
        }
    grafana = stack.grafana
    return {
        "influxdb": Desired(
            "influxdb", data_path, settings, {k: secrets.digest(s, values[s]) for k, s in protected.items()}
        ),
        "grafana": Desired(
            "grafana",
            paths.GRAFANA_DATA,
            {"admin user": str(grafana.admin.user)},
            {
                f"password of user {grafana.admin.user}": secrets.digest(
                    grafana.admin.password, values[grafana.admin.password]
                )
            },
        ),
    }


def changes(desired: Desired, recorded: dict[str, Any] | None) -> list[str]:
    """What converging will change, in words, without any secret value."""
    if recorded is None:
        shown = ", ".join(f"{k} {v}" for k, v in desired.settings.items())
        return [f"not converged yet: {shown}"]
    old_settings = recorded.get("settings", {})
    found = []
    for key, new in desired.settings.items():
        old = old_settings.get(key)
        if old != new:
            note = ""
            if key == "retention" and old and seconds(new) < seconds(old):
                note = f" (readings older than {new} will be deleted)"
            if key in ("database", "bucket") and old:
                note = " (the old one is kept, its readings are not moved)"
            found.append(f"{key} {old} -> {new}{note}")
    old_secrets = recorded.get("secrets", {})
    found += [what for what, digest in desired.secrets.items() if old_secrets.get(what) != digest]
    return found


def blockers(desired: Desired, recorded: dict[str, Any] | None) -> list[str]:
    """Changes no tool can make after setup; deploy stops before changing anything."""
    if recorded is None or "operator token" not in desired.secrets:
        return []
    old = recorded.get("secrets", {}).get("operator token")
    if old is not None and old != desired.secrets["operator token"]:
        return [
            "influxdb: INFLUXDB_TOKEN differs from the operator token InfluxDB 2 was set up with, and "
            "InfluxDB 2 cannot take a chosen token after setup: put the previous value back in the .env, "
            "or create a new all-access token with `influx auth create` and set that one"
        ]
    return []


# --- InfluxDB 1.x -------------------------------------------------------------------------------

# The statements go through the exec's environment to the shell's printf (a builtin) and on to
# the CLI's standard input; the CLI reads the account from INFLUX_USERNAME / INFLUX_PASSWORD.
# -host $HOSTNAME: the real server, not the temporary one the image's setup runs on 127.0.0.1.
INFLUX1_ANSWERS = 'curl -fsS -o /dev/null "http://$HOSTNAME:{port}/ping"'


@dataclass
class Influx1State:
    databases: set[str]
    users: dict[str, bool]  # name -> admin
    grants: dict[str, dict[str, str]]  # user -> database -> privilege
    policies: dict[str, tuple[str, str, bool]]  # name -> (duration, shard duration, default)
    queries: set[str] = field(default_factory=set)  # the database's continuous queries, by name


def observe_influx1(client: Influx1, influx: InfluxFacts) -> Influx1State:
    databases_result, users_result = client.run(["SHOW DATABASES", "SHOW USERS"])
    databases = {row["name"] for row in result_rows(databases_result)}
    users = {row["user"]: bool(row["admin"]) for row in result_rows(users_result)}
    wanted_users = [u for u in (influx.writer.user, influx.reader.user) if isinstance(u, str) and u in users]
    statements = [f"SHOW GRANTS FOR {influxql_identifier(u)}" for u in wanted_users]
    if influx.database in databases:
        statements.append(f"SHOW RETENTION POLICIES ON {influxql_identifier(influx.database)}")
    statements.append("SHOW CONTINUOUS QUERIES")
    results = client.run(statements)
    grants = {
        user: {row["database"]: row["privilege"] for row in result_rows(result)}
        for user, result in zip(wanted_users, results, strict=False)
    }
    policies = {}
    if influx.database in databases:
        for row in result_rows(results[-2]):
            policies[row["name"]] = (row["duration"], row["shardGroupDuration"], bool(row["default"]))
    queries = {
        row[0]
        for series in results[-1].get("series", [])
        if series.get("name") == influx.database
        for row in series.get("values") or []
    }
    return Influx1State(databases, users, grants, policies, queries)


def influx1_statements(
    state: Influx1State, influx: InfluxFacts, values: SecretValues, renew: set[str]
) -> list[str]:
    """The InfluxQL that makes state what the inventory says (pure: tested without a server).

    renew: users whose password must be set even if they exist (their secret changed, or the
    volume holds no record of it).
    """
    db = influxql_identifier(influx.database)
    duration = "INF" if influx.retention == "inf" else influx.retention
    shard = shard_duration(influx.retention)
    policy = influxql_identifier(RETENTION_POLICY)
    statements = []
    if influx.database not in state.databases:
        rp = f"WITH DURATION {duration} REPLICATION 1 SHARD DURATION {shard} NAME {policy}"
        statements.append(f"CREATE DATABASE {db} {rp}")
    for credential, privilege in ((influx.writer, "WRITE"), (influx.reader, "READ")):
        user = str(credential.user)
        password = influxql_string(values[credential.password])
        if user not in state.users:
            statements.append(f"CREATE USER {influxql_identifier(user)} WITH PASSWORD {password}")
        elif user in renew:
            statements.append(f"SET PASSWORD FOR {influxql_identifier(user)} = {password}")
        if state.grants.get(user, {}).get(influx.database) != privilege:
            statements.append(f"GRANT {privilege} ON {db} TO {influxql_identifier(user)}")
    if influx.database in state.databases:
        wanted = (go_duration(influx.retention), go_duration(shard), True)
        current = state.policies.get(RETENTION_POLICY)
        if current is None:
            statements.append(
                f"CREATE RETENTION POLICY {policy} ON {db} DURATION {duration} REPLICATION 1 "
                f"SHARD DURATION {shard} DEFAULT"
            )
        elif current != wanted:
            statements.append(
                f"ALTER RETENTION POLICY {policy} ON {db} DURATION {duration} SHARD DURATION {shard} DEFAULT"
            )
    statements += tier_statements(state, influx)
    return statements


RESAMPLE_MIN_S = 600  # a reading up to 10 minutes late still makes its interval's mean


def resample_window_s(every: str) -> int:
    """How far back each run of a tier's query recomputes: whole intervals, at least 10 minutes
    and 3 intervals, so a reading that lands late (a write in flight at the boundary, Telegraf's
    buffer, a board's queue, a short outage) still makes its interval's mean."""
    step = int(seconds(every))
    return math.ceil(max(RESAMPLE_MIN_S, 3 * step) / step) * step


def resample_clause(every: str) -> str:
    """InfluxDB 1.x computes a continuous query's last interval once, when it ends: RESAMPLE ...
    FOR recomputes the recent intervals on every run."""
    return f"RESAMPLE EVERY {every} FOR {resample_window_s(every)}s"


HEAL_FOR_S = 86400  # Telegraf's buffer is sized for a day without InfluxDB: its readings land late


def heal_every_s(every: str) -> int:
    """How often a tier's past day is recomputed from raw: every six of its intervals, between
    a minute and an hour, in whole intervals."""
    step = int(seconds(every))
    return math.ceil(min(3600, max(60, 6 * step)) / step) * step


def heal_for_s(influx: InfluxFacts, every: str) -> int:
    """How far back the healing recomputes: a day (what Telegraf can hold back and write late,
    a board's queue included), within the raw retention, in whole intervals."""
    step = int(seconds(every))
    kept = HEAL_FOR_S if influx.retention == "inf" else min(HEAL_FOR_S, int(seconds(influx.retention)))
    return max(resample_window_s(every), kept // step * step)


def heal_clause(influx: InfluxFacts, every: str) -> str:
    """A second continuous query per tier: the same means over the past day, every few
    intervals, so an outage longer than the RESAMPLE window (hours with the Pi off, then
    Telegraf's buffer arriving) leaves no hole once its readings are in. Idempotent: the means
    overwrite themselves."""
    return f"RESAMPLE EVERY {heal_every_s(every)}s FOR {heal_for_s(influx, every)}s"


def backfill_since(influx: InfluxFacts) -> str:
    """How far back a tier is computed from raw readings: all that is kept (ten years for inf)."""
    return "520w" if influx.retention == "inf" else influx.retention


def tier_statements(state: Influx1State, influx: InfluxFacts) -> list[str]:
    """Retention policies and continuous queries for the long-term series, and a backfill of each
    new query from the raw readings still kept. A tier left out of the inventory loses its query;
    its series stays until its own retention (never dropped by polysource)."""
    db = influxql_identifier(influx.database)
    policies, queries, backfills = [], [], []
    wanted: set[str] = set()
    since = backfill_since(influx)
    for tier in influx.tiers:
        name = influxql_identifier(tier.name)
        duration = "INF" if tier.keep == "inf" else tier.keep
        shard = shard_duration(tier.keep)
        current = state.policies.get(tier.name)
        if current is None:
            policy = f"{name} ON {db} DURATION {duration} REPLICATION 1 SHARD DURATION {shard}"
            policies.append(f"CREATE RETENTION POLICY {policy}")
        elif current[:2] != (go_duration(tier.keep), go_duration(shard)):
            policies.append(
                f"ALTER RETENTION POLICY {name} ON {db} DURATION {duration} SHARD DURATION {shard}"
            )
        for source in tier.sources:
            body = downsample_select(influx, tier, source)
            regular = resample_clause(tier.every)
            for resample in (regular, heal_clause(influx, tier.every)):
                query = downsample_name(tier, source, f"{resample} {body}")
                wanted.add(query)
                if query not in state.queries:
                    name = influxql_identifier(query)
                    queries.append(f"CREATE CONTINUOUS QUERY {name} ON {db} {resample} BEGIN {body} END")
                    if resample is regular:  # the healing query covers a day the backfill already has
                        backfills.append(downsample_select(influx, tier, source, since))
    stale = sorted(q for q in state.queries if q.startswith("polysource_") and q not in wanted)
    drops = [f"DROP CONTINUOUS QUERY {influxql_identifier(q)} ON {db}" for q in stale]
    return drops + policies + queries + backfills


def converge_influx1(
    box: Exec, influx: InfluxFacts, values: SecretValues, recorded: dict[str, Any] | None, previous: list[str]
) -> None:
    """Admin first (desired password, else the previous container's, else create it), then the rest."""
    admin = str(influx.admin.user)
    wanted = values[influx.admin.password]
    client = Influx1(box, (admin, wanted))
    try:
        client.run(["SHOW USERS"])
    except Influx1Refused as refusal:
        client = _admin_fallback(box, influx, str(refusal), admin, wanted, previous)
    digests = (recorded or {}).get("secrets", {})
    renew = {
        str(c.user)
        for c in (influx.writer, influx.reader)
        if digests.get(f"password of user {c.user}") != secrets.digest(c.password, values[c.password])
    }
    state = observe_influx1(client, influx)
    statements = influx1_statements(state, influx, values, renew)
    if statements:
        try:
            client.run(statements)
        except Influx1Refused as refusal:
            raise DeployError(f"influxdb: converging the database and users failed: {refusal}") from None


def _admin_fallback(
    box: Exec, influx: InfluxFacts, refusal: str, admin: str, wanted: str, previous: list[str]
) -> Influx1:
    if "create admin user first" in refusal:  # the image's setup never created it
        password = influxql_string(wanted)
        Influx1(box, None).run(
            [f"CREATE USER {influxql_identifier(admin)} WITH PASSWORD {password} WITH ALL PRIVILEGES"]
        )
        return Influx1(box, (admin, wanted))
    for old in previous:
        if old == wanted:
            continue
        try:
            Influx1(box, (admin, old)).run(
                [f"SET PASSWORD FOR {influxql_identifier(admin)} = {influxql_string(wanted)}"]
            )
        except Influx1Refused:
            continue
        return Influx1(box, (admin, wanted))
    raise DeployError(
        f"influxdb: InfluxDB refuses the admin account {admin!r} with INFLUXDB_ADMIN_PASSWORD ({refusal}), "
        "and no previous password works: the password was changed while the stack was down. Put the "
        "previous value back in the .env and deploy, then change it and deploy again"
    )


# --- InfluxDB 2.x -------------------------------------------------------------------------------

INFLUX2_CLI = 'influx {args} --host "http://$HOSTNAME:{port}"'
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

GRAFANA_RESET = (
    'printf "%s\\n" "$POLYSOURCE_PASSWORD" | grafana cli '
    '--homepath "${GF_PATHS_HOME:-/usr/share/grafana}" '
    '--config "${GF_PATHS_CONFIG:-/etc/grafana/grafana.ini}" '
    "admin reset-admin-password --password-from-stdin"
)


# Grafana's HTTP API from inside its container: curl reads its options (the Authorization
# header, a body) from standard input, so no credential is on a command line.
GRAFANA_API = (
    'printf "%s\\n" "$POLYSOURCE_CURL" | curl -sS -K - -w "\\n%{{http_code}}" '
    '"http://127.0.0.1:{port}$POLYSOURCE_PATH"'
)


def _curl_quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def grafana_api(
    box: Exec, login: tuple[str, str], path: str, body: dict[str, Any] | None = None
) -> tuple[int, dict[str, Any]]:
    """(HTTP status, JSON answer) of a request to Grafana's API as login; PUT when a body is given."""
    token = base64.b64encode(":".join(login).encode()).decode()
    config = [f"header = {_curl_quoted('Authorization: Basic ' + token)}"]
    if body is not None:
        config += ['request = "PUT"', 'header = "Content-Type: application/json"']
        config.append(f"data = {_curl_quoted(json.dumps(body))}")
    env = {"POLYSOURCE_CURL": "\n".join(config), "POLYSOURCE_PATH": path}
    code, output = box.run(["sh", "-c", GRAFANA_API.format(port=paths.GRAFANA_PORT)], env)
    text, _, status = output.rstrip("\n").rpartition("\n")
    if code != 0 or not status.isdigit():
        raise DeployError(f"grafana: its HTTP API does not answer in its container: {output.strip()[-300:]}")
    try:
        answer = json.loads(text) if text.strip() else {}
    except ValueError:
        answer = {}
    return int(status), answer if isinstance(answer, dict) else {}


def _logs_in(box: Exec, user: str, password: str) -> bool:
    status, me = grafana_api(box, (user, password), "/api/user")
    return status == 200 and me.get("login") == user


def converge_grafana(
    box: Exec, grafana: GrafanaFacts, values: SecretValues, recorded: dict[str, Any] | None
) -> None:
    """The inventory's admin logs in with the inventory's password, proven by logging in.

    Grafana reads GF_SECURITY_ADMIN_* once, when it creates the account. The password is reset
    with `grafana cli` (which prints success on several failure paths, so its exit status proves
    nothing); a changed admin_user renames the account (user id 1) through the HTTP API.
    """
    user, password = str(grafana.admin.user), values[grafana.admin.password]
    if _logs_in(box, user, password):
        return
    code, output = box.run(["sh", "-c", GRAFANA_RESET], {"POLYSOURCE_PASSWORD": password})
    previous = ((recorded or {}).get("settings") or {}).get("admin user")
    if previous and previous != user and _logs_in(box, previous, password):
        _, account = grafana_api(box, (previous, password), "/api/users/1")
        rename = {"login": user, "email": account.get("email", ""), "name": account.get("name", "")}
        status, answer = grafana_api(box, (previous, password), "/api/users/1", rename)
        if status != 200:
            raise DeployError(
                f"grafana: renaming the admin account {previous} -> {user} was refused: "
                f"HTTP {status} {answer.get('message', '')}".rstrip()
            )
    if not _logs_in(box, user, password):
        said = output.strip().splitlines()[-1][-200:] if output.strip() else "no output"
        raise DeployError(
            f"grafana: {user} cannot log in with {grafana.admin.password.var} after "
            f"`grafana cli admin reset-admin-password` (exit {code}: {said}); nothing was recorded "
            "(does the admin account still exist? polysource logs grafana)"
        )


@dataclass(frozen=True)
class Converger:
    """How deploy converges one service: when it answers, and what to run."""

    answers: list[str] | None  # exits 0 once the real server answers; None: the healthcheck
    apply: Callable[[Exec, dict[str, Any] | None, list[str]], None]


def convergers(stack: Stack, values: SecretValues) -> dict[str, Converger]:
    influx = stack.influx
    if influx.version == 1:
        influx_converger = Converger(
            ["sh", "-c", INFLUX1_ANSWERS.format(port=paths.INFLUX_PORT)],
            lambda box, recorded, previous: converge_influx1(box, influx, values, recorded, previous),
        )
    else:
        influx_converger = Converger(
            ["sh", "-c", INFLUX2_ANSWERS.format(port=paths.INFLUX_PORT)],
            lambda box, recorded, previous: converge_influx2(box, influx, values, recorded),
        )
    return {
        "influxdb": influx_converger,
        "grafana": Converger(
            None,
            lambda box, recorded, previous: converge_grafana(box, stack.grafana, values, recorded),
        ),
    }


def previous_secrets(service: str, env: dict[str, str]) -> list[str]:
    """Passwords a service's previous container was given: where converge looks when the desired
    one is refused (the admin password was changed in the .env)."""
    key = {"influxdb": "INFLUXDB_ADMIN_PASSWORD"}.get(service)
    return [env[key]] if key and env.get(key) else []
