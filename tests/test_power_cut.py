"""A power cut while readings flow, judged by the real Mosquitto running the managed broker's
rendered mosquitto.conf, the real Telegraf and InfluxDB: all three killed with SIGKILL at once,
started again, and every reading the broker acknowledged looked for in InfluxDB.

The rendered config saves Mosquitto's database after every change (`autosave_on_changes`): a
reading queued for Telegraf is on disk before the next is taken. Mosquitto 2.0 counts a message
sent straight to a connected subscriber as no change (src/database.c): it is saved with the next
change, Telegraf's next acknowledgement. So a cut loses nothing that waited at the broker, and at
most what Telegraf held unwritten (less than a batch, under its flush interval) when it kept up."""

import json
import threading
import time

import docker.errors
import paho.mqtt.client as mqtt
from deploy_helpers import containers, deploy, project_client, readings, wait_subscribed, watched

from helpers import run_cli
from pipelines import managed_pipeline
from polysource.pipeline import load_stack
from services import InfluxDB, RenderedMosquitto, Telegraf, wait_for

TOPIC = "polysource/capteurs"


class AckedPublisher:
    """A board publishing QoS 1 readings 0, 1, 2, ... at a steady rate, which notes the moment
    the broker acknowledged each one (the board forgets a reading then)."""

    def __init__(self, client: mqtt.Client, rate: float):
        self.client = client  # connected as "esp32", its loop not started
        self.client.on_publish = self._acknowledged
        self.client.loop_start()
        self.rate = rate
        self.lock = threading.Lock()
        self.value_of: dict[int, int] = {}  # message id -> reading
        self.acked: dict[int, float] = {}  # reading -> when acknowledged
        self.early: dict[int, float] = {}  # message id -> when, acknowledged before it was noted
        self.done = threading.Event()
        self.worker = threading.Thread(target=self._publish)

    def _acknowledged(self, client, userdata, mid, reason_code, properties) -> None:
        with self.lock:  # never held while paho's own locks are taken: publish() runs outside it
            if mid in self.value_of:
                self.acked.setdefault(self.value_of.pop(mid), time.monotonic())
            else:  # acknowledged before publish() returned its id
                self.early[mid] = time.monotonic()

    def _publish(self) -> None:
        start, i = time.monotonic(), 0
        while not self.done.is_set():
            time.sleep(max(0.0, start + i / self.rate - time.monotonic()))
            payload = json.dumps({"valeur": float(i), "idCapteur": "Test_4G", "unite": "m"})
            mid = self.client.publish(TOPIC, payload, qos=1).mid
            with self.lock:
                if mid in self.early:
                    self.acked[i] = self.early.pop(mid)
                else:
                    self.value_of[mid] = i
            i += 1

    def __enter__(self) -> "AckedPublisher":
        self.worker.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.done.set()
        self.worker.join()
        self.client.disconnect()
        self.client.loop_stop()

    def acknowledged(self) -> dict[int, float]:
        with self.lock:
            return dict(self.acked)


def stored_values(influxdb: InfluxDB) -> set[int]:
    rows = influxdb.query("SELECT valeur FROM capteurs", db=influxdb.database)
    return {int(row["valeur"]) for row in rows}


def power_cut(broker: RenderedMosquitto, telegraf: Telegraf, influxdb: InfluxDB) -> float:
    """SIGKILL the three at once; returns when (monotonic). Nothing of theirs flushes or closes."""
    when = time.monotonic()
    for process in (broker, telegraf, influxdb):
        process.kill()
    return when


def back(broker: RenderedMosquitto, telegraf: Telegraf, influxdb: InfluxDB) -> None:
    influxdb.start(initialise=False)
    broker.start()
    telegraf.start()


def every_acknowledged_reading(influxdb: InfluxDB, acked: dict[int, float], lost_ok: set[int]) -> None:
    wanted = set(acked) - lost_ok
    deadline = time.monotonic() + 30
    while not wanted <= (stored := stored_values(influxdb)) and time.monotonic() < deadline:
        time.sleep(0.5)
    lost = sorted(wanted - stored)
    assert not lost, f"{len(lost)} of {len(acked)} acknowledged readings lost: {lost}"


def test_a_power_cut_while_a_backlog_drains_loses_nothing_acknowledged(tmp_path, influxdb):
    """Telegraf away while 1,500 readings wait at the broker (15 s at 100/s), back, and the power
    cut while it drains them: the case that lost 104 readings with a save every 60 s. Each reading
    here waited at the broker, so each was on disk before the next was taken."""
    _, broker, telegraf, accounts = managed_pipeline(tmp_path, influxdb)
    try:
        telegraf.start()  # its persistent session exists from now on
        telegraf.stop()
        with AckedPublisher(broker.client("esp32", accounts["esp32"], "power-cut-board"), rate=100) as board:
            time.sleep(15)
        time.sleep(0.5)
        acked = board.acknowledged()
        assert len(acked) >= 1400
        telegraf.start()
        wait_for(lambda: stored_values(influxdb), 10, "the drain's first write", 0.02)
        power_cut(broker, telegraf, influxdb)
        time.sleep(1)
        influxdb.start(initialise=False)
        draining = len(stored_values(influxdb))  # what Telegraf had written at the cut
        assert 0 < draining < len(acked), "the cut came while the backlog drained"
        broker.start()
        telegraf.start()
        every_acknowledged_reading(influxdb, acked, lost_ok=set())
    finally:
        telegraf.stop()
        broker.stop()


def test_a_power_cut_while_telegraf_keeps_up_loses_at_most_its_unwritten_batch(tmp_path, influxdb):
    """Readings at 10 a second, Telegraf writing as they come: the cut may lose only what Telegraf
    held unwritten, readings acknowledged in the last flush interval (1 s) and fewer than a batch.
    Everything older is stored."""
    inventory, broker, telegraf, accounts = managed_pipeline(tmp_path, influxdb)
    batch = load_stack(inventory).batch
    try:
        telegraf.start()
        with AckedPublisher(broker.client("esp32", accounts["esp32"], "power-cut-board"), rate=10) as board:
            time.sleep(6.3)
            cut = power_cut(broker, telegraf, influxdb)
            acked = board.acknowledged()
        assert len(acked) >= 50
        recent = {value for value, when in acked.items() if when > cut - 1.5}
        time.sleep(1)
        back(broker, telegraf, influxdb)
        every_acknowledged_reading(influxdb, acked, lost_ok=recent)
        lost = set(acked) - stored_values(influxdb)
        assert len(lost) < batch, sorted(lost)
    finally:
        telegraf.stop()
        broker.stop()


def status_notes(project) -> dict[str, str]:
    result = run_cli(*project.args("status"))
    assert result.exit_code == 0, result.output
    rows = result.output.split("\n\n", 1)[0].splitlines()[1:]
    return {row.split()[0]: row for row in rows if row.strip()}


def wait_healthy(project) -> None:
    def healthy() -> bool:
        try:
            boxes = containers(project)
        except docker.errors.DockerException:  # the engine still starting
            return False
        wanted = ("mosquitto", "influxdb", "telegraf", "grafana")
        health = {name: b.attrs["State"].get("Health", {}).get("Status") for name, b in boxes.items()}
        return all(health.get(name) == "healthy" for name in wanted)

    wait_for(healthy, 120, "the stack healthy again", 1)


def test_a_power_cut_of_the_pi_and_what_status_says(deploy_project, docker_process):
    """The issue's cut: dockerd, containerd, every shim and container killed at once while a board
    publishes 10 readings/s to the deployed managed broker; the engine started again 3 s later,
    its restart policies bring the stack back. Every acknowledged reading but those Telegraf may
    have held unwritten (the last 1.5 s) is stored, and `status` says each service came back
    from an unclean stop; after a clean restart of the engine it says nothing of the kind."""
    project = deploy_project()
    wait_subscribed(project, since=deploy(project)[0])
    password = project.secrets["MOSQUITTO_ESP32_PASSWORD"]
    with AckedPublisher(project_client(project, "esp32", password, "power-cut-board"), rate=10) as board:
        time.sleep(6.3)
        cut = time.monotonic()
        docker_process.power_cut()
        acked = board.acknowledged()
        acked = {value: when for value, when in acked.items() if when < cut}
        wait_healthy(project)
        time.sleep(3)  # the board reconnects and publishes again
    assert len(acked) >= 50
    recent = {value for value, when in acked.items() if when > cut - 1.5}

    def stored() -> set[int]:
        return {int(row["valeur"]) for row in readings(project)}

    wait_for(lambda: set(acked) - recent <= stored(), 60, "every acknowledged reading", 1)
    lost = set(acked) - stored()
    assert len(lost) < load_stack(project.inventory).batch, sorted(lost)

    notes = status_notes(project)
    for service in ("mosquitto", "influxdb", "telegraf", "grafana"):
        assert "from an unclean stop: killed, not stopped" in notes[service], notes[service]
    assert watched(project, "killed") == {"mosquitto": 1, "influxdb": 1, "telegraf": 1, "grafana": 1}

    docker_process.restart()
    wait_healthy(project)
    notes = status_notes(project)
    if any("unclean" in row for row in notes.values()):
        for name, box in containers(project).items():
            print("---", name, box.attrs["State"])
            print(box.logs(timestamps=True, tail=60).decode(errors="replace"))
    assert not any("unclean" in row for row in notes.values()), notes
    assert set(watched(project, "killed").values()) == {0}
