"""What each account on a broker should be allowed (stack/permissions.py): one topic filter per
account, the narrowest covering its topics (matched as paho, a real MQTT client, matches), said
in each board's README, by doctor, and at render where topics cannot tell boards apart."""

import itertools
import random

import paho.mqtt.client as mqtt
import pytest

from helpers import run_cli, write_inventory
from polysource.pipeline import fresh_files, load_stack
from polysource.topics import covering_filter, matches

LEVELS = ["a", "b", "serre", "", "x y", "é", "$SYS"]


def topics(rng: random.Random, count: int) -> list[str]:
    return ["/".join(rng.choice(LEVELS) for _ in range(rng.randint(1, 4))) for _ in range(count)]


def test_matching_agrees_with_a_real_mqtt_client():
    rng = random.Random(7)
    filters = ["#", "+", "a/#", "a/+", "+/+", "a/+/#", "+/b", "$SYS/#", "a", "a/b/c", "/+", "+/#"]
    for topic_filter, topic in itertools.product(filters, topics(rng, 300)):
        assert matches(topic_filter, topic) == mqtt.topic_matches_sub(topic_filter, topic), (
            topic_filter,
            topic,
        )


@pytest.mark.parametrize("seed", range(40))
def test_the_covering_filter_matches_every_topic_and_no_wider_than_it_must(seed):
    rng = random.Random(seed)
    found = topics(rng, rng.randint(1, 5))
    found = [t for t in found if not t.startswith("$")] or ["a"]
    covering = covering_filter(found)
    assert all(mqtt.topic_matches_sub(covering, t) for t in found), (covering, found)
    if len(set(found)) == 1:
        assert covering == found[0]  # one topic: exactly it, no wildcard
    depths = {t.count("/") for t in found}
    assert covering.endswith("#") == (len(depths) > 1)


@pytest.mark.parametrize(
    ("found", "expected"),
    [
        (["polysource/serre/H", "polysource/serre/T"], "polysource/serre/+"),
        (["polysource/capteurs"], "polysource/capteurs"),
        (["polysource/a/H", "polysource/b/T"], "polysource/+/+"),
        (["p/x", "p/y/z"], "p/+/#"),
    ],
)
def test_the_covering_filter_of_known_layouts(found, expected):
    assert covering_filter(found) == expected


LAB = """\
project: lab
brokers:
  local:
    managed: true
    username: telegraf
    password: ${MOSQUITTO_TELEGRAF_PASSWORD}
    clients: {esp32: "${ESP32_PASSWORD}", cour: "${COUR_PASSWORD}"}
  cloud:
    host: abc123.s1.eu.hivemq.cloud
    username: pi
    password: ${CLOUD_PASSWORD}
streams:
  sites: {broker: local, topic: "polysource/{site}/{sensor}", format: {value: value}}
  capteurs:
    broker: cloud
    topic: polysource/capteurs
    format: {value: valeur, sensor: idCapteur, unit: unite}
sensors:
  H_serre: {stream: sites, unit: "%"}
  T_serre: {stream: sites, unit: °C}
  L_serre: {stream: sites, unit: lux}
  T_cour: {stream: sites, unit: °C}
  N_cuve: {stream: capteurs, unit: m}
  D_pompe: {stream: capteurs, unit: L}
devices:
  serre-1: {stream: sites, tags: {site: serre}, sensors: [H_serre, T_serre], username: esp32, modem: wifi}
  serre-2: {stream: sites, tags: {site: serre}, sensors: [L_serre], username: cour, modem: wifi}
  cour: {stream: sites, tags: {site: cour}, sensors: [T_cour], username: esp32, modem: wifi}
  cuve: {stream: capteurs, sensors: [N_cuve], username: cuve, password: "${CUVE_PASSWORD}", modem: wifi}
  pompe:
    stream: capteurs
    sensors: [D_pompe]
    username: "${POMPE_USER}"
    password: "${POMPE_PASSWORD}"
    modem: wifi
"""


@pytest.fixture
def lab(tmp_path):
    return write_inventory(tmp_path, LAB)


def test_each_account_gets_the_topics_of_its_boards_and_no_more(lab):
    stack = load_stack(lab)
    shared = stack.permissions["serre-1"]
    assert shared is stack.permissions["cour"]  # one account, two boards: one permission for both
    assert shared.topics == ("polysource/serre/H_serre", "polysource/serre/T_serre", "polysource/cour/T_cour")
    assert shared.topic_filter == "polysource/+/+" and shared.publish and shared.boards == ("serre-1", "cour")
    assert shared.also_covers == ("serre-2",)  # its one filter covers the other account's topic
    assert stack.permissions["serre-2"].topic_filter == "polysource/serre/L_serre"
    assert stack.permissions["serre-2"].also_covers == ()
    assert stack.permissions["pompe"].account == "${POMPE_USER}"  # a secret username stays a reference
    telegraf = stack.telegraf_permissions
    assert (telegraf["local"].topic_filter, telegraf["local"].publish) == ("polysource/+/+", False)
    assert telegraf["cloud"].where == "hivemq-cloud" and telegraf["local"].where == "managed"
    assert stack.streams_without_identity == ("capteurs",)


def warnings_of(inventory, tmp_path) -> list[str]:
    result = run_cli("render", "-i", str(inventory), "-o", str(tmp_path / "output"))
    assert result.exit_code == 0, result.output
    return [line for line in result.output.splitlines() if line.startswith("warning")]


def test_render_says_once_where_no_topic_rule_tells_boards_apart(lab, tmp_path):
    warnings = warnings_of(lab, tmp_path)
    assert len([w for w in warnings if "stream capteurs" in w]) == 1, warnings
    assert not [w for w in warnings if "stream sites" in w]
    assert not [w for w in warnings if "account esp32" in w]  # the managed acl_file lists exact topics


def test_render_says_where_one_cloud_filter_covers_another_accounts_boards(tmp_path):
    text = LAB.replace("sites: {broker: local", "sites: {broker: cloud")
    for board in ("serre-1", "serre-2", "cour"):
        text = text.replace(
            f"  {board}: {{stream: sites,", f"  {board}: {{password: '${{P}}', stream: sites,"
        )
    (covers,) = [w for w in warnings_of(write_inventory(tmp_path, text), tmp_path) if "account esp32" in w]
    assert "its one topic filter polysource/+/+ also covers the topics of serre-2" in covers


def test_a_board_readme_says_the_hivemq_cloud_permission_to_set(lab, tmp_path):
    files = fresh_files(lab, tmp_path / "output")
    cuve = files["devices/cuve/README.md"].decode()
    assert (
        "account `cuve`: Topic Filter `polysource/capteurs`, Permission Type Publish Only (Serverless plan)"
        in cuve
    )
    assert "no topic rule stops one board posing as another" in cuve
    serre = files["devices/serre-1/README.md"].decode()
    assert "every board on account `esp32`: serre-1, cour" in serre
    assert "The stack's own Mosquitto enforces that" in serre
    assert "also covers" not in serre  # on the managed broker each topic is listed exactly
    assert "${POMPE_PASSWORD}" not in files["devices/pompe/README.md"].decode().split("## What the broker")[1]
