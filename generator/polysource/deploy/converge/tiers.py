"""When the long-term series are computed: resample and healing windows, shared by InfluxDB 1's
continuous queries and InfluxDB 2's tasks. Pure."""

import math

from polysource.durations import seconds
from polysource.stack.model import InfluxFacts

RESAMPLE_MIN_S = 600  # a reading up to 10 minutes late still makes its interval's mean


def resample_window_s(every: str) -> int:
    """How far back each run of a tier's query recomputes: whole intervals, at least 10 minutes
    and 3 intervals, so a reading that lands late (a write in flight at the boundary, Telegraf's
    buffer, a board's queue, a short outage) still makes its interval's mean."""
    step = int(seconds(every))
    return math.ceil(max(RESAMPLE_MIN_S, 3 * step) / step) * step


def resample_clause(every: str) -> str:
    """InfluxDB 1.x computes a continuous query's last interval once, when it ends: RESAMPLE ...
    FOR recomputes the recent intervals on every run."""
    return f"RESAMPLE EVERY {every} FOR {resample_window_s(every)}s"


HEAL_FOR_S = 86400  # Telegraf's buffer is sized for a day without InfluxDB: its readings land late


def heal_every_s(every: str) -> int:
    """How often a tier's past day is recomputed from raw: every six of its intervals, between
    a minute and an hour, in whole intervals."""
    step = int(seconds(every))
    return math.ceil(min(3600, max(60, 6 * step)) / step) * step


def heal_for_s(influx: InfluxFacts, every: str) -> int:
    """How far back the healing recomputes: a day (what Telegraf can hold back and write late,
    a board's queue included), within the raw retention, in whole intervals."""
    step = int(seconds(every))
    kept = HEAL_FOR_S if influx.retention == "inf" else min(HEAL_FOR_S, int(seconds(influx.retention)))
    return max(resample_window_s(every), kept // step * step)


def heal_clause(influx: InfluxFacts, every: str) -> str:
    """A second continuous query per tier: the same means over the past day, every few
    intervals, so an outage longer than the RESAMPLE window (hours with the Pi off, then
    Telegraf's buffer arriving) leaves no hole once its readings are in. Idempotent: the means
    overwrite themselves."""
    return f"RESAMPLE EVERY {heal_every_s(every)}s FOR {heal_for_s(influx, every)}s"


def backfill_since(influx: InfluxFacts) -> str:
    """How far back a tier is computed from raw readings: all that is kept (ten years for inf)."""
    return "520w" if influx.retention == "inf" else influx.retention
