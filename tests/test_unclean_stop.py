"""`status`'s reading of a restart: killed (a power cut) or stopped cleanly, from each service's
own start and clean-stop lines around Docker's StartedAt and FinishedAt; against fakes of a
container, the cases the power-cut test (tests/test_power_cut.py) meets by chance, each on purpose."""

from datetime import UTC, datetime

import pytest

from polysource.runtime.lifecycle import moment, unclean_stop
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
