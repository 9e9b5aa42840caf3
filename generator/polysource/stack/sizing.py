"""How much disk the readings take: per day, per year, and once retention and tiers level it.

The figure is an order of magnitude from InfluxDB's own hardware sizing guide (InfluxDB 1.x,
"Hardware sizing guidelines", section on disk: "non-string values require approximately three
bytes" per stored value once compacted into TSM files). Recent writes sit uncompacted in the WAL
and cache first, so a busy hour can take several times more; the series index adds a little
per sensor. Telegraf's own statistics (one point per 10 s) are counted too.
"""

import math
from dataclasses import dataclass

from polysource.durations import seconds
from polysource.stack.model import Stack

BYTES_PER_VALUE = 3
DAY_S = 86_400
YEAR_S = 365 * DAY_S
HEARTBEAT_EVERY_S = 10  # inputs.internal in telegraf.conf
HEARTBEAT_VALUES = 9  # fields of internal_write per point, about


@dataclass(frozen=True)
class Estimate:
    per_day: float  # bytes written per day, raw readings and tiers together
    per_year: float
    kept: float  # bytes once every series has reached its retention (inf when one keeps all)
    card: float | None  # the inventory's target.storage_gb, in bytes

    @property
    def fills_in_days(self) -> float | None:
        """Days until the card is full at this rate, when retention does not level use below it."""
        if self.card is None or self.kept <= self.card:
            return None
        return self.card / self.per_day


def estimate(stack: Stack) -> Estimate:
    influx = stack.influx
    raw_per_s = stack.rate_per_s + HEARTBEAT_VALUES / HEARTBEAT_EVERY_S
    per_day = raw_per_s * DAY_S * BYTES_PER_VALUE
    kept = per_day * seconds(influx.retention) / DAY_S
    for tier in influx.tiers:
        count = sum(
            len(source.sensors)
            or sum(
                (s.measurement, s.field, s.tag) == (source.measurement, source.field, source.tag)
                for s in stack.series.values()
            )
            for source in tier.sources
        )
        tier_per_day = count * DAY_S / seconds(tier.every) * BYTES_PER_VALUE
        per_day += tier_per_day
        kept += tier_per_day * seconds(tier.keep) / DAY_S
    card = stack.inventory.target.storage_gb
    return Estimate(per_day, per_day * YEAR_S / DAY_S, kept, card * 1e9 if card else None)


def size_text(size: float) -> str:
    if math.isinf(size):
        return "unbounded"
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if size >= scale:
            return f"{size / scale:.3g} {unit}"
    return f"{size:.0f} B"


def describe(found: Estimate) -> list[str]:
    """The lines render prints; the last one a warning when the card would fill."""
    kept = (
        "grows without end (retention: inf)"
        if math.isinf(found.kept)
        else f"levels at {size_text(found.kept)}"
    )
    lines = [
        f"disk: about {size_text(found.per_day)} a day, {size_text(found.per_year)} a year; {kept}"
        f" ({BYTES_PER_VALUE} bytes per value, InfluxDB's sizing guide)"
    ]
    days = found.fills_in_days
    if days is not None and found.card is not None:
        lines.append(
            f"warning: at this rate the {size_text(found.card)} card fills in about {days:,.0f} days;"
            " shorten storage.influxdb.retention or keep means (storage.influxdb.downsample)"
        )
    return lines


FREE_WARNING_DAYS = 90


def describe_free(found: Estimate, total: int, free: int) -> list[str]:
    """status's lines about the real disk, beside the inventory's estimate; the last one a
    warning when the free space lasts less than FREE_WARNING_DAYS at the estimated rate."""
    used = 100 * (total - free) / total if total else 0.0
    lines = [
        f"disk: {size_text(free)} free of {size_text(total)} where InfluxDB keeps its data "
        f"({used:.0f}% used); the inventory's readings add about {size_text(found.per_day)} a day"
    ]
    days = free / found.per_day if found.per_day else math.inf
    if days < FREE_WARNING_DAYS:
        lines.append(
            f"warning: at this rate the free space lasts about {days:,.0f} days; shorten "
            "storage.influxdb.retention, keep means (storage.influxdb.downsample) or free the card"
        )
    return lines
