"""What a user's dashboard module sees of the stack: `inventory/dashboards/NAME.dashboard.py`.

Such a module is Python that render runs (grafanalib's convention: it sets a module-level
`dashboard`, a grafanalib Dashboard). It reads the inventory through these few functions instead
of copying query text, so its panels follow the inventory as the generated ones do:

    from grafanalib.core import Dashboard, GridPos, TimeSeries
    from grafanalib.influxdb import InfluxDBTarget
    from polysource.views import sensors

    dashboard = Dashboard(
        title="Basement",
        panels=[
            TimeSeries(title=s.name, targets=[InfluxDBTarget(refId="A", query=s.query)],
                       unit=s.unit, gridPos=GridPos(h=8, w=12, x=12 * (i % 2), y=8 * (i // 2)))
            for i, s in enumerate(sensors(group="cave"))
        ],
    )

A panel or target without a datasource gets the stack's InfluxDB.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

from polysource.stack import Stack, paths

_current: ContextVar[Stack | None] = ContextVar("polysource_stack", default=None)


@dataclass(frozen=True)
class SensorView:
    id: str
    name: str  # the inventory's name, or the id
    unit: str | None  # Grafana's unit id (celsius, percent, ...), None when polysource has none
    group: str
    stream: str
    interval_s: int  # how often it reports
    min: float | None
    max: float | None
    query: str  # the generated panels' query (InfluxQL or Flux), Grafana's macros included


@contextmanager
def viewing(stack: Stack) -> Iterator[None]:
    """Render runs each module inside this, so the functions below answer for its stack."""
    token = _current.set(stack)
    try:
        yield
    finally:
        _current.reset(token)


def stack() -> Stack:
    """The stack being rendered (its model: stack().name, stack().influx.version, ...)."""
    found = _current.get()
    if found is None:
        raise RuntimeError("polysource.views is for dashboard modules that polysource render runs")
    return found


def sensors(group: str | None = None, stream: str | None = None) -> list[SensorView]:
    """The inventory's sensors in its order, optionally those of one group or stream."""
    current = stack()
    return [
        SensorView(
            id=sensor.id,
            name=sensor.title,
            unit=sensor.grafana_unit,
            group=sensor.group,
            stream=sensor.stream,
            interval_s=sensor.every_s,
            min=sensor.min,
            max=sensor.max,
            query=current.dialect.panel(sensor.series),
        )
        for sensor in current.sensors.values()
        if (group is None or sensor.group == group) and (stream is None or sensor.stream == stream)
    ]


def datasource() -> dict[str, str]:
    """The stack's InfluxDB datasource, as a panel or target names it."""
    return {"type": "influxdb", "uid": paths.GRAFANA_DATASOURCE_UID}
