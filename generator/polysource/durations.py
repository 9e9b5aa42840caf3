"""Durations as the inventory writes them: 30s, 10m, 90d, inf."""

import math

UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
MIN_RETENTION_S = 3600  # InfluxDB 1.x and 2.x refuse shorter retention periods


def seconds(duration: str) -> float:
    return math.inf if duration == "inf" else int(duration[:-1]) * UNIT_SECONDS[duration[-1]]
