"""The managed broker's acl_file, judged by the real Mosquitto running the rendered config: each
board's account publishes its own readings' topics and nothing else and receives nothing,
Telegraf's receives its streams only, a client gets what the inventory lists. Mosquitto refuses
silently (a refused publish is acknowledged and dropped): each refusal is shown by what does not
arrive while an allowed message sent after it does."""

import threading
import time

import paho.mqtt.client as mqtt
import pytest

from helpers import run_cli, write_inventory
from pipelines import issue
from polysource.errors import PolysourceError
from polysource.field.probe import sender
from polysource.field.readings import reading_for
from polysource.pipeline import load_stack
from services import RenderedMosquitto, free_port, wait_for

INVENTORY = """\
project: acl
brokers:
  local:
    managed: true
    port: PORT
    username: telegraf
    password: ${MOSQUITTO_TELEGRAF_PASSWORD}
    clients:
      esp32: ${ESP32_PASSWORD}
      cour: ${COUR_PASSWORD}
      idle: ${IDLE_PASSWORD}
      tools:
        password: ${TOOLS_PASSWORD}
        publish: [polysource/capteurs, "lab/%u/x"]
        subscribe: ["polysource/#", "lab/#"]
streams:
  sites: {broker: local, topic: "polysource/{site}/{sensor}", format: {value: value}}
  capteurs:
    broker: local
    topic: polysource/capteurs
    format: {value: valeur, sensor: idCapteur, unit: unite}
sensors:
  H_serre: {stream: sites, unit: "%"}
  T_cour: {stream: sites, unit: °C}
  N_cuve: {stream: capteurs, unit: m}
devices:
  serre: {stream: sites, tags: {site: serre}, sensors: [H_serre], username: esp32, modem: wifi}
  cour: {stream: sites, tags: {site: cour}, sensors: [T_cour], username: cour, modem: wifi}
"""
PASSWORDS = {"telegraf": "t-pw", "esp32": "e-pw", "cour": "c-pw", "idle": "i-pw", "tools": "to-pw"}


class Listener:
    """A client subscribed to `#` (or a filter): what its account may receive is all it gets."""

    def __init__(self, broker: RenderedMosquitto, user: str, topic_filter: str = "#"):
        self.got: list[tuple[str, bytes]] = []
        self.lock = threading.Lock()
        self.client = connected(broker, user)
        self.client.on_message = self._on_message
        subscribed = threading.Event()
        self.client.on_subscribe = lambda *args: subscribed.set()
        self.client.subscribe(topic_filter, qos=1)
        assert subscribed.wait(10)

    def _on_message(self, client, userdata, message) -> None:
        with self.lock:
            self.got.append((message.topic, message.payload))

    def topics(self) -> set[str]:
        with self.lock:
            return {topic for topic, _ in self.got}


def connected(broker: RenderedMosquitto, user: str) -> mqtt.Client:
    client = broker.client(user, PASSWORDS[user], f"acl-{user}-{time.monotonic_ns()}")
    client.loop_start()
    return client


def send(broker: RenderedMosquitto, user: str, topic: str) -> None:
    """Published with QoS 1 and acknowledged, as a refused publish also is."""
    client = connected(broker, user)
    try:
        info = client.publish(topic, f"from {user}".encode(), qos=1)
        info.wait_for_publish(10)
        assert info.is_published()
    finally:
        client.disconnect()
        client.loop_stop()


@pytest.fixture
def broker(tmp_path, monkeypatch):
    for var, user in (("ESP32", "esp32"), ("COUR", "cour"), ("IDLE", "idle"), ("TOOLS", "tools")):
        monkeypatch.setenv(f"{var}_PASSWORD", PASSWORDS[user])
    port = free_port()
    inventory = write_inventory(tmp_path, INVENTORY.replace("PORT", str(port)))
    result = run_cli("render", "-i", str(inventory), "-o", str(tmp_path / "output"))
    assert result.exit_code == 0, result.output
    config = tmp_path / "output/mosquitto/mosquitto.conf"
    started = RenderedMosquitto(
        config, tmp_path / "broker", PASSWORDS, port=port, tls=issue(load_stack(inventory))
    )
    (tmp_path / "broker").mkdir()
    yield started.start()
    started.stop()


def test_each_account_only_where_the_inventory_puts_it(broker):
    telegraf, board, tools = (Listener(broker, user) for user in ("telegraf", "esp32", "tools"))
    shared = Listener(broker, "telegraf", "$share/acl/polysource/+/+")  # several Telegrafs
    refused = [
        ("esp32", "polysource/cour/T_cour"),  # another board's topic
        ("esp32", "polysource/capteurs"),  # a stream its boards do not publish on
        ("esp32", "anything/else"),
        ("idle", "polysource/serre/H_serre"),  # an account with no board and no rights
        ("telegraf", "polysource/serre/H_serre"),  # Telegraf only receives
        ("tools", "lab/tools/x"),  # `%u` in a topic line is not a pattern: no substitution
    ]
    for user, topic in refused:
        send(broker, user, topic)
    allowed = [
        ("esp32", "polysource/serre/H_serre"),
        ("cour", "polysource/cour/T_cour"),
        ("tools", "polysource/capteurs"),
        ("tools", "lab/%u/x"),
    ]
    for user, topic in allowed:
        send(broker, user, topic)
    streams = {"polysource/serre/H_serre", "polysource/cour/T_cour", "polysource/capteurs"}
    wait_for(lambda: telegraf.topics() >= streams, 10, "the allowed readings at Telegraf")
    wait_for(lambda: "lab/%u/x" in tools.topics(), 10, "the client's own topic")
    time.sleep(0.5)  # a refused message, had it been let through, would be here by now
    assert telegraf.topics() == streams  # none of the refused ones, none outside its streams
    assert tools.topics() == streams | {"lab/%u/x"}
    assert board.topics() == set()  # a board subscribed to # receives nothing at all
    assert shared.topics() == {"polysource/serre/H_serre", "polysource/cour/T_cour"}


def test_the_field_tools_publish_as_an_account_allowed_to(tmp_path, broker, monkeypatch):
    """publish (and simulate, verify) on the managed broker log in as the board that reads the
    sensor, else a client whose rights cover the topic: Telegraf's account only receives."""
    monkeypatch.setenv("MOSQUITTO_TELEGRAF_PASSWORD", PASSWORDS["telegraf"])
    telegraf = Listener(broker, "telegraf")
    inventory = str(tmp_path / "inventory.yml")
    board = run_cli("publish", "H_serre", "61.5", "--tag", "site=serre", "-i", inventory)
    assert board.exit_code == 0, board.output
    client = run_cli("publish", "N_cuve", "1.25", "-i", inventory)
    assert client.exit_code == 0, client.output
    wanted = {"polysource/serre/H_serre", "polysource/capteurs"}
    wait_for(lambda: telegraf.topics() >= wanted, 10, "both readings at Telegraf")
    stack = load_stack(tmp_path / "inventory.yml")
    assert sender(stack, reading_for(stack, "H_serre", 1, {"site": "serre"})).user == "esp32"
    assert sender(stack, reading_for(stack, "N_cuve", 1)).user == "tools"
    nobody = run_cli("publish", "H_serre", "1", "--tag", "site=cave", "-i", inventory)
    assert nobody.exit_code == 1
    assert "no account on the managed broker 'local' may publish to polysource/cave/H_serre" in nobody.output
    with pytest.raises(PolysourceError, match="a client given `publish: \\[polysource/cave/H_serre\\]`"):
        sender(stack, reading_for(stack, "H_serre", 1, {"site": "cave"}))


def test_the_acl_file_is_what_the_stack_says(tmp_path, broker):
    text = (tmp_path / "output/mosquitto/acl").read_text()
    assert "user esp32\ntopic write polysource/serre/H_serre\n" in text
    assert "user telegraf\ntopic read polysource/+/+\ntopic read polysource/capteurs\n" in text
    assert "# idle: nothing" in text and "user idle" not in text
    assert "pattern" not in text.replace("patterns", "")
    stack = load_stack(tmp_path / "inventory.yml")
    assert [a.user for a in stack.broker_accounts] == ["telegraf", "cour", "esp32", "idle", "tools"]


@pytest.mark.parametrize(
    ("rights", "message"),
    [
        ('publish: ["a/b+"]', "+ and # stand alone in a topic level"),
        ('publish: ["a/#/b"]', "# is only the last level"),
        ('subscribe: ["$share/g/a"]', "without $share/GROUP/"),
        ('publish: [" a/b"]', "must not start or end with a blank"),
        ('publish: ["a\\nuser telegraf"]', "control characters"),
    ],
)
def test_rights_that_mosquitto_would_refuse_or_misread_are_located(tmp_path, rights, message):
    text = INVENTORY.replace('publish: [polysource/capteurs, "lab/%u/x"]', rights).replace(
        'subscribe: ["polysource/#", "lab/#"]', ""
    )
    if rights.startswith("subscribe"):
        text = text.replace(rights, f"publish: []\n        {rights}")
    result = run_cli("render", "-i", str(write_inventory(tmp_path, text)), "-o", str(tmp_path / "out"))
    assert result.exit_code == 2 or result.exit_code == 1, result.output
    assert "brokers.local.clients.tools" in result.output and message in result.output, result.output
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("sensor", ["T+1", "T#", "a/b", "50%"])
def test_a_sensor_id_that_would_widen_a_topic_rule_is_refused(tmp_path, sensor):
    text = INVENTORY.replace("H_serre", sensor if "%" not in sensor else sensor)
    result = run_cli("render", "-i", str(write_inventory(tmp_path, text)), "-o", str(tmp_path / "out"))
    assert result.exit_code != 0 and "sensors" in result.output, result.output
    assert not (tmp_path / "out").exists()


def test_a_managed_broker_names_its_own_account_as_text(tmp_path):
    text = INVENTORY.replace("username: telegraf", "username: ${TELEGRAF_USER}")
    result = run_cli("render", "-i", str(write_inventory(tmp_path, text)), "-o", str(tmp_path / "out"))
    assert result.exit_code != 0
    assert (
        "brokers.local.username: the managed broker's own account is named in its acl_file" in result.output
    )
