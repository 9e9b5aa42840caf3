"""Whether a container's last start followed a kill (a power cut, the OOM killer) or a clean
stop: `status` says so, and `polysource watch` records it for the "Pi" dashboard."""

import time
from dataclasses import dataclass
from typing import Any

from polysource.runtime.engine import Box
from polysource.services import Lifecycle


def moment(docker_time: object) -> float | None:
    """Docker's RFC 3339 time (nanoseconds, Z) as Unix seconds; None for its zero time (never)."""
    from datetime import datetime

    text = str(docker_time or "")
    if not text or text.startswith("0001-"):
        return None
    whole, _, fraction = text.rstrip("Z").partition(".")
    try:
        at = datetime.fromisoformat(whole + "+00:00").timestamp()
    except ValueError:
        return None
    return at + float(f"0.{fraction[:6] or 0}")


STOP_TIMEOUT_S = 60  # a clean stop's line comes at most this long before Docker notes the stop


def _marks(box: Box, lifecycle: Lifecycle, since: float, before: float) -> list[tuple[float, str]]:
    """The service's own start and clean-stop lines the container logged from `since` until
    just before `before` (Unix seconds), in order: (when, "start" | "stop")."""
    marks = []
    for line in box.logs_between(int(since), int(before) + 2).splitlines():
        stamp, _, text = line.decode(errors="replace").partition(" ")
        if (at := moment(stamp)) is None or at >= before:
            continue
        if lifecycle.stops in text:
            marks.append((at, "stop"))
        elif lifecycle.starts in text:
            marks.append((at, "start"))
    return marks


def _came_back(started: float) -> str:
    when = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(started))
    return f"came back at {when} from an unclean stop: killed, not stopped (a power cut? out of memory?)"


def unclean_stop(box: Box, lifecycle: Lifecycle | None) -> str:
    """Why a running container's last start followed a kill (a power cut, the OOM killer), when
    it did. Docker notes a stop either way, and after a power cut starts the container again
    with its restart count at 0: only the service's own lines tell them apart, the last start or
    clean-stop line it logged before this run's own start line (which Docker's StartedAt may
    follow by a few milliseconds). Empty when stopped cleanly or never stopped."""
    state = box.state
    started, stopped = moment(state.get("StartedAt")), moment(state.get("FinishedAt"))
    if lifecycle is None or state.get("Status") != "running" or started is None or stopped is None:
        return ""
    marks = _marks(box, lifecycle, stopped - STOP_TIMEOUT_S, started + 1)
    if marks and marks[-1][1] == "start" and marks[-1][0] > started - 1:
        marks.pop()  # this run's own start
    if marks and marks[-1][1] == "stop":
        return ""
    return _came_back(started)


# How a swarm records a task whose container was killed: 137, SIGKILL (the OOM killer); 255, the
# engine found it dead when it came back (a power cut, the engine itself killed).
KILLED_EXITS = (137, 255)


@dataclass(frozen=True)
class Ending:
    """How the task a running swarm task took over from ended on its own (the swarm starts a new
    container where a single host restarts the old one): "clean" (it logged its clean stop),
    "killed" (no clean stop, and an exit a kill leaves) or "failed" (any other end); record: the
    swarm's record of that end (the task's Status)."""

    how: str
    record: dict[str, Any]

    def note(self, started: float) -> str:
        """What status says of the task that started at `started`: a kill as on one host."""
        if self.how == "killed":
            return _came_back(started)
        if self.how == "failed":
            why = self.record.get("Err") or self.record.get("State", "?")
            return f"took over from a task that ended on its own ({why})"
        return ""


def ending(previous: Box | None, record: dict[str, Any], lifecycle: Lifecycle) -> Ending:
    """previous: the ended task's container, None when gone (the swarm's task history) or on a
    node out of reach: its exit code alone tells then."""
    stopped = moment(previous.state.get("FinishedAt")) if previous is not None else None
    if previous is not None and stopped is not None:
        marks = _marks(previous, lifecycle, stopped - STOP_TIMEOUT_S, stopped + 1)
        if marks and marks[-1][1] == "stop":
            return Ending("clean", record)
    killed = record.get("ContainerStatus", {}).get("ExitCode") in KILLED_EXITS
    return Ending("killed" if killed else "failed", record)
