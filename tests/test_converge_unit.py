"""converge's pure core, against a fake container: which statements, which words in the plan."""

import json

import pytest

from helpers import MINIMAL, write_inventory
from polysource.deploy.converge.influx1 import Influx1State, converge_influx1, influx1_statements
from polysource.deploy.converge.record import blockers, changes, desired_state, go_duration
from polysource.pipeline import load_stack
from polysource.secrets import Secret, SecretValues

VALUES = {
    "INFLUXDB_ADMIN_PASSWORD": "adm'n \\ pw",
    "INFLUXDB_WRITE_PASSWORD": 'it\'s a "pass" word',
    "INFLUXDB_READ_PASSWORD": "read-secret",
    "GRAFANA_ADMIN_PASSWORD": "grafana-secret",
    "MQTT_PASSWORD": "mqtt-secret",
    "INFLUXDB_TOKEN": "t" * 20,
}


def stack_for(tmp_path, storage: str = "storage: {influxdb: {database: lab-local, retention: 30d}}\n"):
    return load_stack(write_inventory(tmp_path, MINIMAL + storage))


def values() -> SecretValues:
    return SecretValues({Secret(k): v for k, v in VALUES.items()})


def test_fresh_server_gets_database_users_grants_and_retention_with_quoted_names(tmp_path):
    influx = stack_for(tmp_path).influx
    state = Influx1State(databases=set(), users={"admin": True}, grants={}, policies={})
    assert influx1_statements(state, influx, values(), renew=set()) == [
        'CREATE DATABASE "lab-local" WITH DURATION 30d REPLICATION 1 SHARD DURATION 1d NAME "autogen"',
        'CREATE USER "telegraf" WITH PASSWORD \'it\\\'s a "pass" word\'',
        'GRANT WRITE ON "lab-local" TO "telegraf"',
        "CREATE USER \"grafana\" WITH PASSWORD 'read-secret'",
        'GRANT READ ON "lab-local" TO "grafana"',
    ]


def test_converged_server_needs_nothing_and_a_renewed_password_is_set(tmp_path):
    influx = stack_for(tmp_path).influx
    state = Influx1State(
        databases={"lab-local"},
        users={"admin": True, "telegraf": False, "grafana": False},
        grants={"telegraf": {"lab-local": "WRITE"}, "grafana": {"lab-local": "READ"}},
        policies={"autogen": ("720h0m0s", "24h0m0s", True)},
    )
    assert influx1_statements(state, influx, values(), renew=set()) == []
    assert influx1_statements(state, influx, values(), renew={"grafana"}) == [
        "SET PASSWORD FOR \"grafana\" = 'read-secret'"
    ]


def test_changed_retention_alters_the_policy(tmp_path):
    influx = stack_for(tmp_path, "storage: {influxdb: {retention: 400d}}\n").influx
    state = Influx1State(
        {"polysource"},
        {"admin": True, "telegraf": False, "grafana": False},
        {"telegraf": {"polysource": "WRITE"}, "grafana": {"polysource": "READ"}},
        {"autogen": ("2160h0m0s", "24h0m0s", True)},
    )
    assert influx1_statements(state, influx, values(), set()) == [
        'ALTER RETENTION POLICY "autogen" ON "polysource" DURATION 400d SHARD DURATION 7d DEFAULT'
    ]


@pytest.mark.parametrize(("duration", "shown"), [("90d", "2160h0m0s"), ("inf", "0s"), ("36h", "36h0m0s")])
def test_durations_compare_as_influxdb_shows_them(duration, shown):
    assert go_duration(duration) == shown


def test_plan_words_name_what_changes_and_never_a_secret(tmp_path):
    stack = stack_for(tmp_path)
    desired = desired_state(stack, values())["influxdb"]
    assert changes(desired, None)[0].startswith("not converged yet: database lab-local, retention 30d")
    recorded = json.loads(desired.record())
    assert changes(desired, recorded) == []
    recorded["settings"]["retention"] = "90d"
    recorded["secrets"]["password of user telegraf"] = "old-digest"
    found = changes(desired, recorded)
    assert found == [
        "retention 90d -> 30d (readings older than 30d will be deleted)",
        "password of user telegraf",
    ]
    assert not any(v in " ".join(found) for v in VALUES.values())
    assert not any(v.encode() in desired.record() for v in VALUES.values())


def test_influxdb2_token_change_is_blocked_before_anything_changes(tmp_path):
    stack = stack_for(tmp_path, "storage: {influxdb: {version: 2}}\ntarget: {platform: linux/amd64}\n")
    desired = desired_state(stack, values())["influxdb"]
    recorded = json.loads(desired.record())
    assert blockers(desired, recorded) == []
    recorded["secrets"]["operator token"] = "another"
    (message,) = blockers(desired, recorded)
    assert "INFLUXDB_TOKEN differs from the operator token" in message


class FakeInflux:
    """A container whose influx CLI answers from a script of (statements -> answer)."""

    name = "fake-influxdb"

    def __init__(self, answers):
        self.answers = answers
        self.calls = []

    def run(self, command, environment=None):
        environment = environment or {}
        query = environment.get("POLYSOURCE_QUERY", "")
        self.calls.append((environment.get("INFLUX_USERNAME"), environment.get("INFLUX_PASSWORD"), query))
        for match, answer in self.answers:
            if match(environment, query):
                return answer
        return 0, json.dumps({"results": [{} for _ in query.split(";\n")]})


def test_changed_admin_password_is_set_with_the_previous_one(tmp_path):
    influx = stack_for(tmp_path).influx
    refused = (1, '{"error":"authorization failed"}')
    box = FakeInflux(
        [
            (
                lambda env, q: (
                    env.get("INFLUX_PASSWORD") == VALUES["INFLUXDB_ADMIN_PASSWORD"] and not box.calls[1:]
                ),
                refused,
            )
        ]
    )
    converge_influx1(box, influx, values(), None, ["old-admin-password"])
    user, password, query = box.calls[1]
    assert (user, password) == ("admin", "old-admin-password")
    assert query == "SET PASSWORD FOR \"admin\" = 'adm\\'n \\\\ pw'"
    assert all(p == VALUES["INFLUXDB_ADMIN_PASSWORD"] for _, p, _ in box.calls[2:])


def test_admin_never_created_by_the_image_is_created(tmp_path):
    influx = stack_for(tmp_path).influx
    no_admin = (1, '{"error":"error authorizing query: create admin user first or disable authentication"}')
    box = FakeInflux([(lambda env, q: not box.calls[1:], no_admin)])
    converge_influx1(box, influx, values(), None, [])
    assert box.calls[1][:2] == (None, None)
    assert (
        box.calls[1][2].startswith('CREATE USER "admin" WITH PASSWORD')
        and "WITH ALL PRIVILEGES" in box.calls[1][2]
    )
