"""InfluxDB 1.8: databases, users, grants, retention policies and continuous queries, by InfluxQL
through the `influx` CLI in the container."""

from dataclasses import dataclass, field
from typing import Any

from polysource import secrets
from polysource.deploy.converge.record import RETENTION_POLICY, go_duration, shard_duration
from polysource.deploy.converge.tiers import backfill_since, heal_clause, resample_clause
from polysource.errors import DeployError
from polysource.runtime.influx import Exec, Influx1, Influx1Refused, result_rows
from polysource.secrets import SecretValues
from polysource.stack.model import InfluxFacts
from polysource.stack.queries import (
    downsample_name,
    downsample_select,
    influxql_identifier,
    influxql_string,
)

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
