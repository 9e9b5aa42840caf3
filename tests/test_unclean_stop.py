"""`status`'s reading of a restart: killed (a power cut) or stopped cleanly, from each service's
own start and clean-stop lines around Docker's StartedAt and FinishedAt; against fakes of a
container, the cases the power-cut test (tests/test_power_cut.py) meets by chance, each on purpose."""

from datetime import UTC, datetime

import pytest

from helpers import MINIMAL, write_inventory
from polysource.deploy import swarm
from polysource.errors import EngineError
from polysource.pipeline import load_stack
from polysource.runtime.lifecycle import ending, moment, unclean_stop
from polysource.services import LIFECYCLE, Lifecycle

T0 = datetime(2026, 12, 7, 0, 16, 0, tzinfo=UTC).timestamp()


def docker_time(at: float) -> str:
    whole = datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{whole}.{round((at % 1) * 1e9):09d}Z"


class FakeBox:
    def __init__(self, started: float, finished: float | None, lines: list[tuple[float, str]]):
        self.state = {
            "Status": "running",
            "StartedAt": docker_time(started),
            "FinishedAt": "0001-01-01T00:00:00Z" if finished is None else docker_time(finished),
        }
        self.lines = lines

    def logs_between(self, since: int, until: int) -> bytes:
        return b"".join(
            f"{docker_time(at)} {text}\n".encode() for at, text in self.lines if since <= at < until
        )


MOSQUITTO = LIFECYCLE["mosquitto"]
START = "1796602597: mosquitto version 2.0.21 starting"
RUNNING = "1796602597: mosquitto version 2.0.21 running"
STOP = "1796602593: mosquitto version 2.0.21 terminating"
SAVE = "1796602593: Saving in-memory database to /mosquitto/data//mosquitto.db."


def test_docker_times_read_to_the_microsecond():
    assert moment("2026-12-07T00:16:00.500000123Z") == pytest.approx(T0 + 0.5)
    assert moment("0001-01-01T00:00:00Z") is None
    assert moment("") is None and moment(None) is None and moment("yesterday") is None


def test_never_stopped_is_no_news():
    box = FakeBox(T0, None, [(T0 + 0.01, START)])
    assert unclean_stop(box, MOSQUITTO) == ""


def test_a_clean_stop_then_a_start_is_no_news():
    # this run's own start line comes a few ms before Docker's StartedAt
    lines = [(T0 - 30, START), (T0 - 5, STOP), (T0 - 5, SAVE), (T0 - 0.004, START), (T0, RUNNING)]
    assert unclean_stop(FakeBox(T0, T0 - 4.9, lines), MOSQUITTO) == ""


def test_a_kill_then_a_start_is_said_with_its_time():
    lines = [(T0 - 300, START), (T0 - 10, SAVE), (T0 + 0.001, START)]
    note = unclean_stop(FakeBox(T0, T0 - 2, lines), MOSQUITTO)  # FinishedAt: when Docker came back
    assert note == (
        "came back at 2026-12-07 00:16:00 UTC from an unclean stop: killed, not stopped"
        " (a power cut? out of memory?)"
    )


def test_a_kill_soon_after_a_clean_restart_is_still_a_kill():
    """A deploy stopped it cleanly 20 s before the power cut: that stop is in the window, but the
    start after it is the last line before this run's."""
    lines = [(T0 - 25, STOP), (T0 - 24, START), (T0 - 3, SAVE), (T0 - 0.002, START)]
    assert "unclean stop" in unclean_stop(FakeBox(T0, T0 - 1, lines), MOSQUITTO)


def test_a_kill_whose_run_started_long_before_the_window():
    lines = [(T0 - 86_400, START), (T0 - 3, SAVE), (T0 + 0.002, START)]
    assert "unclean stop" in unclean_stop(FakeBox(T0, T0 - 1, lines), MOSQUITTO)


def test_a_service_with_no_lines_to_read_and_a_stopped_container_say_nothing():
    box = FakeBox(T0, T0 - 1, [(T0 - 3, SAVE)])
    assert unclean_stop(box, None) == ""
    box.state["Status"] = "exited"
    assert unclean_stop(box, MOSQUITTO) == ""


@pytest.mark.parametrize("service", sorted(LIFECYCLE))
def test_each_service_has_lines_that_tell_start_from_stop(service):
    lifecycle: Lifecycle = LIFECYCLE[service]
    assert lifecycle.starts and lifecycle.stops
    assert lifecycle.starts not in lifecycle.stops and lifecycle.stops not in lifecycle.starts


class FakePrevious(FakeBox):
    """A swarm task's container that ended: the swarm started a new task (a new container)."""

    def __init__(self, finished: float, lines: list[tuple[float, str]]):
        super().__init__(finished - 3600, finished, lines)
        self.state["Status"] = "exited"


def ended(code: int) -> dict:
    """The swarm's record of a task's end."""
    return {"State": "failed", "Err": f"task: non-zero exit ({code})", "ContainerStatus": {"ExitCode": code}}


POWER_CUT, OOM, CRASH = ended(255), ended(137), ended(1)


def test_a_swarm_task_after_one_killed_is_said_with_the_new_tasks_start():
    # killed: its last lines are a save and its start, nothing of a clean stop
    killed = FakePrevious(T0 - 2, [(T0 - 3600, START), (T0 - 10, SAVE)])
    assert unclean_stop(killed, MOSQUITTO) == ""  # not running: the single host's reading says nothing
    note = ending(killed, POWER_CUT, MOSQUITTO).note(T0 + 5)
    assert note.startswith("came back at 2026-12-07 00:16:05 UTC from an unclean stop"), note
    short_lived = FakePrevious(T0 - 2, [(T0 - 20, START)])  # killed 20 s after it started
    assert "unclean stop" in ending(short_lived, OOM, MOSQUITTO).note(T0)
    restarted = FakePrevious(T0 - 2, [(T0 - 30, STOP), (T0 - 29, START)])  # a stop, then a start
    assert "unclean stop" in ending(restarted, POWER_CUT, MOSQUITTO).note(T0)


def test_a_swarm_task_after_one_stopped_cleanly_says_nothing_and_after_a_crash_says_so():
    clean = FakePrevious(T0 - 2, [(T0 - 3600, START), (T0 - 5, STOP), (T0 - 5, SAVE)])
    assert ending(clean, POWER_CUT, MOSQUITTO).note(T0) == ""  # its stop logged: whatever the code
    crashed = FakePrevious(T0 - 2, [(T0 - 3600, START)])  # no stop line, and it exited on its own
    note = ending(crashed, CRASH, MOSQUITTO).note(T0)
    assert note == "took over from a task that ended on its own (task: non-zero exit (1))"


def test_a_swarm_task_whose_predecessor_is_out_of_reach_is_said_by_its_exit():
    assert ending(None, POWER_CUT, MOSQUITTO).how == ending(None, OOM, MOSQUITTO).how == "killed"
    assert "unclean stop" in ending(None, POWER_CUT, MOSQUITTO).note(T0)
    assert "ended on its own" in ending(None, CRASH, MOSQUITTO).note(T0)


MAYBE = " (a power cut? out of memory?)"


def swarm_task(created: str, state: str, desired: str, err: str = "") -> dict:
    status = {"State": state, "Timestamp": f"2026-12-07T00:{created}.000000000Z", "Err": err}
    status["ContainerStatus"] = {"ContainerID": f"c-{created}", "ExitCode": 255 if err else 0}
    return {"Slot": 1, "NodeID": "n1", "DesiredState": desired, "CreatedAt": created, "Status": status}


def stack_for(tmp_path):
    return load_stack(write_inventory(tmp_path, MINIMAL))


class FakeSwarm:
    """What swarm.status reads of a manager: one node, InfluxDB's service and its tasks; the
    node's containers out of reach (its Docker API not given)."""

    name = "the swarm"

    def __init__(self, tasks: list[dict]):
        self._tasks = tasks

    def nodes(self) -> dict:
        return {"n1": {"Description": {"Hostname": "pi"}}}

    def services(self, project: str) -> dict:
        return {"influxdb": {"ID": "s1"}}

    def tasks(self, service_id: str) -> list[dict]:
        return self._tasks

    def local_node(self) -> tuple[str, bool]:
        raise EngineError("cannot reach the node")


KILLED_TASK = swarm_task("10:00", "failed", "shutdown", "task: non-zero exit (255)")
# the engine coming back rejects a first new task ("cannot create a swarm scoped network when
# swarm is not active"): it never had a container, and the running one is the next
REJECTED = swarm_task("12:00", "rejected", "shutdown", "cannot create a swarm scoped network")
REJECTED["Status"]["ContainerStatus"] = {"ContainerID": "", "ExitCode": 0}
CAME_BACK = "came back at 2026-12-07 00:16:00 UTC from an unclean stop: killed, not stopped" + MAYBE


@pytest.mark.parametrize(
    ("earlier", "said"),
    [
        ([KILLED_TASK], CAME_BACK),
        ([KILLED_TASK, REJECTED], CAME_BACK),
        ([swarm_task("10:00", "shutdown", "shutdown")], ""),  # the swarm stopped it: an update
        ([], ""),  # the first task of its slot
    ],
)  # fmt: skip
def test_swarm_status_traces_a_task_back_to_the_one_it_took_over_from(tmp_path, earlier, said):
    running = swarm_task("16:00", "running", "running")
    rows = swarm.status(FakeSwarm([running, *earlier]), stack_for(tmp_path))
    (influxdb,) = [row for row in rows if row.service == "influxdb"]
    assert (influxdb.node, influxdb.state, influxdb.note) == ("pi", "running", said)
    assert {row.state for row in rows if row.service != "influxdb"} == {"missing"}
