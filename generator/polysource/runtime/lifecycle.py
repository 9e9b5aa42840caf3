"""Whether a container's last start followed a kill (a power cut, the OOM killer) or a clean
stop: `status` says so, and `polysource watch` records it for the "Pi" dashboard."""

import time

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


def ended_unclean(previous: Box, lifecycle: Lifecycle | None, started: float) -> str:
    """The same for a swarm task that took over from one that ended (the swarm starts a new
    container where a single host restarts the old one): whether the previous task's container
    logged its clean stop before it ended; `started`: when the new task started. Empty when it
    did, or when its lines cannot tell."""
    stopped = moment(previous.state.get("FinishedAt"))
    if lifecycle is None or stopped is None:
        return ""
    marks = _marks(previous, lifecycle, stopped - STOP_TIMEOUT_S, stopped + 1)
    return "" if marks and marks[-1][1] == "stop" else _came_back(started)
