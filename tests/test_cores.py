"""Pure cores, tested without Docker or brokers (as resolvelib tests its resolver against fake
providers): the deploy plan and its waves, doctor's verdicts, Telegraf's buffer sizing, client ids,
and render's determinism and atomicity."""

import json
import os
import shutil
import subprocess
import sys

import pytest

from helpers import INVENTORIES, MINIMAL, all_secrets, rendered_then_changed, run_cli, write_inventory
from polysource.deploy.apply import waves
from polysource.deploy.plan import make_plan
from polysource.deploy.spec import desired_containers
from polysource.field.doctor import Check, EndpointReport, verdict
from polysource.pipeline import fresh_files, load_stack
from polysource.render.telegraf import BUFFER_MAX, BUFFER_MIN, buffer_limit, health_threshold
from polysource.secrets import SecretValues
from polysource.stack.build import client_id

# --- the deploy plan -------------------------------------------------------------------------------


class FakeContainer:
    def __init__(self, labels, status="running", health=None):
        self.labels, self.status, self.health = labels, status, health


def specs_for(text: str, tmp_path, secret: str = "x"):
    tmp_path.mkdir(parents=True, exist_ok=True)
    inventory = write_inventory(tmp_path, text)
    stack = load_stack(inventory)
    files = fresh_files(inventory, tmp_path / "out")
    return desired_containers(stack, files, SecretValues({s: secret for s in all_secrets(stack)}))


LAB = (INVENTORIES / "lab-local.yml").read_text()


def deployed(specs, **changes):
    containers = {s.service.name: FakeContainer(s.labels()) for s in specs}
    for name, container in changes.items():
        containers[name] = container
    return containers


def test_first_deploy_creates_everything_in_dependency_waves(tmp_path):
    specs = specs_for(LAB, tmp_path)
    actions = make_plan(specs, {}, {})
    assert [a.verb for a in actions] == ["create"] * 5
    assert [[a.service for a in wave] for wave in waves(actions)] == [
        ["influxdb", "mosquitto-passwd"],
        ["mosquitto", "grafana"],
        ["telegraf"],
    ]


def test_nothing_changed_is_all_keep_and_no_wave(tmp_path):
    specs = specs_for(LAB, tmp_path)
    live = {"grafana": {"grafana/dashboards": next(v for v in specs[-1].config_volumes if v.live).hashes()}}
    actions = make_plan(specs, deployed(specs), live)
    assert {a.verb for a in actions} == {"keep"}
    assert waves(actions) == []


def test_a_changed_secret_recreates_its_users_and_reruns_the_one_shot(tmp_path):
    before = specs_for(LAB, tmp_path / "a")
    after = specs_for(LAB, tmp_path / "b", secret="y")
    actions = {a.service: a for a in make_plan(after, deployed(before), {})}
    assert {n: a.verb for n, a in actions.items()} == dict.fromkeys(actions, "recreate")
    assert (
        "settings changed" in actions["mosquitto"].reasons
        or "mosquitto-passwd re-ran" in actions["mosquitto"].reasons
    )


def test_stopped_missing_and_extra_containers(tmp_path):
    specs = specs_for(LAB, tmp_path)
    containers = deployed(specs, grafana=FakeContainer(specs[-1].labels(), status="exited"))
    del containers["telegraf"]
    containers["old-exporter"] = FakeContainer({})
    verbs = {a.service: a.verb for a in make_plan(specs, containers, {})}
    assert verbs["grafana"] == "start"
    assert verbs["telegraf"] == "create"
    assert verbs["old-exporter"] == "remove"
    wave_list = waves(make_plan(specs, containers, {}))
    assert [a.service for a in wave_list[0]] == ["old-exporter"], "removals go first"


def test_an_unhealthy_influxdb_is_converged_again_from_scratch(tmp_path):
    specs = specs_for(MINIMAL, tmp_path)
    influx = next(s for s in specs if s.service.name == "influxdb")
    containers = deployed(specs, influxdb=FakeContainer(influx.labels(), health="unhealthy"))
    from polysource.deploy.converge.record import desired_state

    stack = load_stack(tmp_path / "inventory.yml")
    desired = desired_state(stack, SecretValues({s: "x" for s in all_secrets(stack)}))
    recorded = {name: json.loads(d.record()) for name, d in desired.items()}
    action = next(a for a in make_plan(specs, containers, {}, desired, recorded) if a.service == "influxdb")
    assert (action.verb, action.recheck) == ("keep", True)
    assert action.converge == ["unhealthy: checking its database, users and passwords again"]


# --- doctor's verdicts ---------------------------------------------------------------------------


def report(url, failure="", ok=False, host="h.example", port=8883, broker="cloud"):
    found = EndpointReport(broker, url, host, port, [Check(url, "tcp", ok, "")])
    found.failure = failure
    return found


@pytest.mark.parametrize(
    ("reports", "reference", "expected"),
    [
        ([report("ssl://h:8883", "dns")], {}, "cloud: h.example does not resolve"),
        ([report("ssl://h:8883", "refused")], {}, "nothing listens on h.example:8883 (connection refused)"),
        ([report("ssl://h:8883", "unreachable")], {}, "cloud: no route to h.example"),
        ([report("ssl://h:8883", "tls-untrusted")], {}, "certificate is not trusted: set ca_file"),
        ([report("ssl://h:8883", "tls-hostname")], {}, "the certificate does not name h.example"),
        ([report("ssl://h:8883", "auth")], {}, "the broker refused the credentials"),
        ([report("ssl://h:8883", "subscribe")], {}, "a subscription was refused: check the account's ACL"),
        ([report("ssl://h:8883", "secrets")], {}, "set the broker's secrets to check the login"),
        (
            [report("ssl://h:8883", "dropped"), report("wss://h:8884/mqtt", ok=True)],
            {},
            "port 8883 times out while wss://h:8884/mqtt answers: this network drops that port",
        ),
        (
            [report("ssl://h:8883", "dropped")],
            {"h.example": "open"},
            "times out while h.example answers on 443",
        ),
        ([report("ssl://h:8883", "dropped")], {"h.example": "dropped"}, "does not answer at all"),
        (
            [report("ssl://h:8883", "refused"), report("wss://h:8884/mqtt", ok=True)],
            {},
            "(the fallback wss://h:8884/mqtt works)",
        ),
    ],
)
def test_verdicts_name_the_hop_and_what_to_do(reports, reference, expected):
    (sentence,) = verdict(reports, reference)
    assert expected in sentence


def test_a_working_broker_gets_no_sentence():
    assert verdict([report("ssl://h:8883", ok=True)], {}) == []


# --- Telegraf's buffer ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rate", "limit"),
    [
        (0.0, BUFFER_MIN),
        (1 / 60, BUFFER_MIN),
        (0.5, 43_200),
        (1.0, 86_400),
        (2.0, BUFFER_MAX),
        (1e4, BUFFER_MAX),
    ],
)
def test_buffer_holds_a_day_within_bounds(rate, limit):
    assert buffer_limit(rate) == limit


def test_health_threshold_stays_below_the_buffer():
    assert health_threshold(1 / 60, BUFFER_MIN) == 5
    assert health_threshold(100, BUFFER_MAX) == 3000
    assert health_threshold(1e6, BUFFER_MAX) == BUFFER_MAX // 2


def test_the_seed_renders_its_buffer_and_a_large_inventory_the_cap(tmp_path):
    seed = fresh_files(INVENTORIES / "polysource.yml", tmp_path / "a")["telegraf/telegraf.conf"].decode()
    assert "metric_buffer_limit = 10000\n" in seed
    assert "about 167 h of readings" in seed
    many = MINIMAL + "".join(f"  S{i}: {{stream: capteurs, unit: m, interval: 1s}}\n" for i in range(3))
    conf = fresh_files(write_inventory(tmp_path, many), tmp_path / "b")["telegraf/telegraf.conf"].decode()
    assert "metric_buffer_limit = 100000\n" in conf


# --- client ids ----------------------------------------------------------------------------------


def test_client_id_is_stable_and_changes_with_the_topic():
    from polysource.inventory.model import Stream

    one = Stream(broker="b", topic="polysource/capteurs")
    assert client_id("demo", "capteurs", one) == client_id(
        "demo", "capteurs", Stream(broker="b", topic="polysource/capteurs")
    )
    assert client_id("demo", "capteurs", one) != client_id(
        "demo", "capteurs", Stream(broker="b", topic="lab/capteurs")
    )
    assert client_id("demo", "capteurs", one).startswith("polysource-demo-capteurs-")
    assert client_id("demo", "c", Stream(broker="b", topic="t", client_id="mine")) == "mine"


# --- render: determinism across processes, atomicity ---------------------------------------------


@pytest.mark.parametrize("inventory", sorted(INVENTORIES.glob("*.yml")), ids=lambda p: p.name)
def test_same_bytes_in_every_process_whatever_the_hash_seed(tmp_path, inventory):
    digests = set()
    for seed in ("0", "1", "42", "random"):
        out = tmp_path / "out"  # the same folder each time: a plain folder's timers name it
        shutil.rmtree(out, ignore_errors=True)
        subprocess.run(
            [sys.executable, "-m", "polysource", "render", "-i", str(inventory), "-o", str(out)],
            check=True,
            capture_output=True,
            env={**os.environ, "PYTHONHASHSEED": seed},
        )
        digests.add((out / "manifest.json").read_text())
    assert len(digests) == 1


def test_a_render_failing_half_way_leaves_output_as_it_was(tmp_path, monkeypatch):
    inventory, out, before = rendered_then_changed(tmp_path)
    from pathlib import Path

    real_write = Path.write_bytes
    calls = []

    def failing_write(self, data):
        calls.append(self)
        if len(calls) == 3:
            raise OSError(28, "No space left on device", str(self))
        return real_write(self, data)

    monkeypatch.setattr(Path, "write_bytes", failing_write)
    result = run_cli("render", "-i", str(inventory), "-o", str(out))
    monkeypatch.undo()
    assert result.exit_code == 1
    assert "No space left on device" in result.stderr and "was left as it was" in result.stderr
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["inventory.yml", "out"]


def test_help_starts_without_importing_the_heavy_libraries():
    code = (
        "import sys\nfrom click.testing import CliRunner\nfrom polysource.cli import main\n"
        "CliRunner().invoke(main, ['--help'])\n"
        "print(sorted(m for m in ('docker', 'paho', 'pydantic', 'jinja2') if m in sys.modules))"
    )
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert loaded.strip() == "[]"


def test_healthchecks_every_5_seconds_three_retries():
    """The README's promise (deploy probes readiness itself; these are Docker's, for status)."""
    for inventory in sorted(INVENTORIES.glob("*.yml")):
        for service in load_stack(inventory).services:
            if service.healthcheck:
                check = service.healthcheck
                assert (check.interval, check.timeout, check.retries) == ("5s", "5s", 3), service.name


def test_toml_strings_escape_what_toml_forbids():
    import tomllib

    from polysource.render.templating import toml_string

    for text in ("a\x7fb", 'q"uote', "back\\slash", "tab\tnew\nline", "\x00", "é µg/m3"):
        assert tomllib.loads(f"x = {toml_string(text)}")["x"] == text


def test_an_error_inside_an_influxdb_answer_raises():
    from polysource.errors import InfluxError
    from polysource.runtime.influx import influxql_rows

    with pytest.raises(InfluxError, match="database not found"):
        influxql_rows({"results": [{"statement_id": 0, "error": 'database not found: "x"'}]})
    with pytest.raises(InfluxError):
        influxql_rows({"error": "authorization failed"})
    assert influxql_rows({"results": [{"statement_id": 0}]}) == []
    # SHOW CONTINUOUS QUERIES: a series per database, without "values" when it has none
    none_here = {
        "results": [{"statement_id": 0, "series": [{"name": "polysource", "columns": ["name", "query"]}]}]
    }
    assert influxql_rows(none_here) == []


def test_telegraf_is_stopped_first_when_its_account_changes(tmp_path):
    from polysource.deploy.converge.record import desired_state
    from polysource.deploy.run import quiet_first

    inventory = write_inventory(tmp_path, MINIMAL)
    stack = load_stack(inventory)
    before = specs_for(MINIMAL, tmp_path / "a")
    after = specs_for(MINIMAL, tmp_path / "b", secret="rotated")
    values = SecretValues({s: "x" for s in all_secrets(stack)})
    desired = desired_state(stack, values)
    recorded = {name: json.loads(d.record()) for name, d in desired.items()}
    rotated = make_plan(
        after,
        deployed(before),
        {},
        desired_state(stack, SecretValues({s: "rotated" for s in all_secrets(stack)})),
        recorded,
    )
    assert [a.service for a in quiet_first(stack, rotated)] == ["telegraf"]
    same = make_plan(before, deployed(before), {}, desired, recorded)
    assert quiet_first(stack, same) == []


# --- swarm: the definitions deploy sends, without Docker ----------------------------------------


def swarm_items(tmp_path, swarm: str, extra: str = "", inventory_text: str | None = None):
    import re

    from polysource.deploy.swarm import swarm_services

    text = inventory_text or (INVENTORIES / "lab-local.yml").read_text()
    text = re.sub(r"^target:.*$", lambda m: f"{m.group(0)}\n{swarm}", text, count=1, flags=re.M) + extra
    shutil.copytree(INVENTORIES / "pki", tmp_path / "pki")  # the repository's CA: the same in each folder
    inventory = write_inventory(tmp_path, text, "lab.yml")
    stack = load_stack(inventory)
    files = fresh_files(inventory, tmp_path / "out")
    values = SecretValues({s: f"value-of-{s.var}" for s in all_secrets(stack)})
    return {i.name: i for i in swarm_services(stack, desired_containers(stack, files, values), values)}


SWARM = "  swarm:\n    placement: {telegraf: {site: a}, mosquitto: {disk: ssd}, influxdb: {disk: ssd}}"


def test_swarm_definitions_hold_no_secret_and_place_by_label(tmp_path):
    items = swarm_items(tmp_path, SWARM)
    text = json.dumps({name: item.definition for name, item in items.items()})
    assert "value-of-" not in text, "a secret value in a service definition"
    assert items["telegraf"].definition["order"] == "start-first"
    assert {items[n].definition["order"] for n in ("influxdb", "grafana", "mosquitto")} == {"stop-first"}
    assert items["mosquitto-passwd"].definition["constraints"] == ["node.labels.disk==ssd"]  # with its volume
    assert items["grafana"].definition["constraints"] == []
    influx = items["influxdb"]
    assert {key for _, key, _ in influx.secrets} >= {"DOCKER_INFLUXDB_INIT_PASSWORD"}
    assert all(value.startswith(b"value-of-") for _, _, value in influx.secrets)
    # content-addressed: the same inventory gives the same names
    (tmp_path / "again").mkdir()
    again = swarm_items(tmp_path / "again", SWARM)
    assert again["telegraf"].fingerprint == items["telegraf"].fingerprint
    assert [c[0] for c in again["grafana"].configs] == [c[0] for c in items["grafana"].configs]


def test_a_changed_sensor_rolls_telegraf_only_on_the_swarm_and_grafana_re_reads_its_dashboards(tmp_path):
    """Grafana's dashboards are a volume written in place (its file provider re-reads them), not
    immutable swarm configs: a renamed sensor changes Telegraf's definition and no other; the plan
    says Grafana re-reads the changed files, as on one host."""
    from polysource.deploy.swarm import plan

    lab = (
        (INVENTORIES / "lab-local.yml").read_text().split("\n# Grafana alerts")[0]
    )  # rules: Grafana restarts
    before = swarm_items(tmp_path, SWARM, inventory_text=lab)
    (tmp_path / "renamed").mkdir()
    text = lab.replace(
        '"Niveau cuve", unit: m, min: 0, max: 3, group: eau, interval: 10s',
        '"Niveau", unit: m, interval: 20s',
    )
    renamed = swarm_items(tmp_path / "renamed", SWARM, inventory_text=text)
    changed = {name for name in before if before[name].fingerprint != renamed[name].fingerprint}
    assert changed == {"telegraf"}, changed
    assert not [path for _, path, _ in before["grafana"].configs if path.endswith(".json")]

    def live(items):
        return {"grafana": {v.folder: v.hashes() for v in items["grafana"].spec.config_volumes if v.live}}

    existing = {
        name: {"ID": name, "Spec": {"Labels": {"polysource.settings": item.fingerprint}}}
        for name, item in before.items()
    }
    actions = {a.item.name: a for a in plan(list(renamed.values()), existing, live=live(before))}
    (line,) = actions["grafana"].lines()
    assert line.startswith("update    grafana (re-read in place: grafana/dashboards/"), line
    assert actions["grafana"].verb == "keep" and actions["grafana"].changes
    assert {n for n, a in actions.items() if a.verb != "keep"} == {"telegraf"}
    unchanged = {a.item.name: a for a in plan(list(before.values()), existing, live=live(before))}
    assert not [a for a in unchanged.values() if a.changes]


def test_several_telegrafs_inherit_the_telegraf_placement(tmp_path):
    swarm = "  swarm:\n    placement: {telegraf: {site: a}, telegraf-2: {site: b}}"
    items = swarm_items(tmp_path, swarm, "\ntelegraf: {instances: 3}\n")
    assert items["telegraf-1"].definition["constraints"] == ["node.labels.site==a"]
    assert items["telegraf-2"].definition["constraints"] == ["node.labels.site==b"]
    assert items["telegraf-3"].definition["env"]["POLYSOURCE_INSTANCE"] == "3"


@pytest.mark.parametrize("value", ["has:colon", "line\nbreak"])
def test_unusable_mosquitto_passwords_are_refused_before_any_change(value):
    from polysource.deploy.run import check_secret_values
    from polysource.errors import DeployError

    stack = load_stack(INVENTORIES / "lab-local.yml")
    values = SecretValues(
        {
            s: value if s.var.startswith("MOSQUITTO") else "long enough"
            for s in [*stack.secrets, *stack.made_secrets]
        }
    )
    with pytest.raises(DeployError, match="cannot hold") as caught:
        check_secret_values(stack, values)
    assert value not in str(caught.value)


def test_disk_estimate_counts_readings_heartbeat_and_tiers(tmp_path):
    from polysource.stack.sizing import describe, estimate

    seed = (INVENTORIES / "polysource.yml").read_text()
    stack = load_stack(INVENTORIES / "polysource.yml")
    found = estimate(stack)
    # one sensor every 60 s, Telegraf's statistics (9 values every 10 s), 3 bytes each
    assert found.per_day == pytest.approx((1 / 60 + 0.9) * 86400 * 3)
    assert found.kept == pytest.approx(found.per_day * 90)  # retention 90d
    assert describe(found)[0].startswith("disk: about 238 kB a day, 86.7 MB a year; levels at 21.4 MB")

    text = seed.replace("retention: 90d}", "retention: inf, downsample: [{every: 5m, keep: 104w}]}")
    text = text.replace("target: {", "target: {storage_gb: 0.05, ")
    found = estimate(load_stack(write_inventory(tmp_path, text, "polysource.yml")))
    assert found.per_day == pytest.approx((1 / 60 + 0.9) * 86400 * 3 + 288 * 3)
    warning = describe(found)[-1]
    assert warning.startswith("warning: at this rate the 50 MB card fills in about 210 days")


from polysource.deploy.swarm import Node  # noqa: E402


def test_a_swarm_of_several_nodes_refuses_unpinned_stateful_services(tmp_path):
    from polysource.deploy.swarm import placement_problems
    from polysource.pipeline import load_stack

    text = (INVENTORIES / "lab-local.yml").read_text()
    docker_host = "  docker_host: unix:///var/run/docker.sock\n"
    text = text.replace(docker_host, docker_host + "  swarm: {placement: {influxdb: {disk: ssd}}}\n")
    stack = load_stack(write_inventory(tmp_path, text, "lab-local.yml"))
    pi, worker = Node("pi", "192.168.1.10", {"disk": "ssd"}), Node("worker", "192.168.1.11", {"site": "b"})
    assert placement_problems(stack, [pi]) == []
    named = sorted(p.split(":")[0] for p in placement_problems(stack, [pi, worker]))
    assert named == ["grafana", "mosquitto"], named  # telegraf keeps nothing; the helper follows mosquitto


def test_a_swarm_refuses_a_published_service_pinned_away_from_where_boards_connect(tmp_path):
    """Without the routing mesh a port answers only on its task's node: Grafana pinned to the
    worker while boards and the CLI use the Pi's address is refused, and named; with the mesh,
    or pinned to the Pi, it is not."""
    from polysource.deploy.swarm import placement_problems
    from polysource.pipeline import load_stack

    text = (INVENTORIES / "lab-local.yml").read_text().replace("raspberrypi.local", "192.168.1.10")
    docker_host = "  docker_host: unix:///var/run/docker.sock\n"
    pins = "{influxdb: {disk: ssd}, mosquitto: {disk: ssd}, grafana: {site: b}}"
    pi, worker = Node("pi", "192.168.1.10", {"disk": "ssd"}), Node("worker", "192.168.1.11", {"site": "b"})

    def problems(swarm: str) -> list[str]:
        found = text.replace(docker_host, f"{docker_host}  swarm: {swarm}\n")
        return placement_problems(load_stack(write_inventory(tmp_path, found, "lab-local.yml")), [pi, worker])

    (problem,) = problems(f"{{placement: {pins}}}")
    assert problem.startswith("grafana: pinned to {'site': 'b'}, which does not match node pi (192.168.1.10)")
    assert problems(f"{{placement: {pins}, mesh: true}}") == []
    assert problems(f"{{placement: {pins.replace('{site: b}', '{disk: ssd}')}}}") == []


def test_the_running_container_of_a_service_is_picked_not_a_replaced_tasks():
    """A swarm leaves each replaced task's container behind, exited; Docker lists newest first.
    logs, status, verify, backup and restore must read the running one."""
    from types import SimpleNamespace

    from polysource.runtime.engine import Box, pick_current

    def box(name: str, service: str, status: str) -> Box:
        labels = {"polysource.service": service}
        return Box(SimpleNamespace(name=name, labels=labels, status=status, attrs={"Id": name}))

    listed = [
        box("influx-new", "influxdb", "running"),
        box("influx-old", "influxdb", "exited"),
        box("tele-starting", "telegraf", "created"),
        box("tele-running", "telegraf", "running"),
        box("tele-oldest", "telegraf", "exited"),
        box("grafana-previous", "grafana", "running"),
        box("grafana-b", "grafana", "exited"),
        box("grafana-a", "grafana", "exited"),
    ]
    picked = {name: b.name for name, b in pick_current(listed).items()}
    assert picked == {"influxdb": "influx-new", "telegraf": "tele-running", "grafana": "grafana-b"}
