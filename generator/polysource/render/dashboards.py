"""Grafana dashboards built with grafanalib: a fleet overview, and a dashboard per sensor group.

The overview repeats one panel per chosen sensor (a template variable fed by InfluxDB's tag
values), so it opens fast at any fleet size; each group gets a dashboard with one panel per
sensor (units, ranges, thresholds), split into pages of `PAGE` panels. Panels encode themselves
clean (render/grafana_json.py), so 10,000 sensors take no JSON round trip (bench/render.py).
"""

from collections.abc import Iterator
from functools import cache
from typing import Any

import attr
from grafanalib.core import Dashboard, DashboardLink, GridPos, Repeat, Template, Templating, Time
from grafanalib.influxdb import InfluxDBTarget

from polysource import dashboard_names as names
from polysource.render.grafana_json import Row, SeriesPanel, dashboard_text, dumps, generated
from polysource.render.text_pieces import EncodedPanel, PanelTemplate, encoded, shape_key, slot
from polysource.stack import Stack, host, paths
from polysource.stack.model import InfluxFacts, SensorFacts, StreamFacts
from polysource.stack.queries import RESOLUTION, InfluxDialect

SCHEMA_VERSION = 39  # Grafana 10.4-11.5; 11.6 migrates it on load without changes to these panels
DATASOURCE_UID = paths.GRAFANA_DATASOURCE_UID
DATASOURCE = {"type": "influxdb", "uid": DATASOURCE_UID}
PANEL_WIDTH = 8
PANEL_HEIGHT = 8
TAG = "polysource"


def dashboard_uid(stack: Stack, name: str = "overview") -> str:
    return names.dashboard_uid(stack.name, name)


BASE_STEP = {"color": "green", "value": None}
GAP_INTERVALS = 3  # readings missing for longer than this many intervals show as a gap


def _steps(sensor: SensorFacts | None) -> list[dict[str, Any]]:
    if sensor is None or not sensor.thresholds:
        return [BASE_STEP]
    steps = [{"color": t.color, "value": t.value} for t in sensor.thresholds]
    return [BASE_STEP, *steps]


def _panel(
    title: str,
    description: str,
    query: str,
    alias: str,
    grid: GridPos,
    unit: str | None,
    every_s: int,
    sensor: SensorFacts | None = None,
    limit: float | None = None,
    scale: tuple[float, float] | None = None,
    **more: Any,
) -> SeriesPanel:
    """A time series of one sensor's means, bucketed no finer than the sensor reports (`every_s`,
    the panel's `interval`: the lower limit of $__interval and v.windowPeriod): finer buckets
    would be mostly empty, and the series drawn as dots.

    Nulls come from InfluxQL's fill(null), or are inserted by Grafana where two Flux windows are
    further apart than the query's interval (its default insertNulls, relative to the range: a
    fixed one would cut a 30-day view into dots). Spanning nulls shorter than a few of the
    sensor's intervals joins a bucket its jitter left empty; a longer silence stays a gap at
    every range. A sensor's thresholds and range; or (the Pi's panels) a `limit` drawn as a red
    line and a fixed `scale`."""
    steps = _steps(sensor) if limit is None else [BASE_STEP, {"color": "red", "value": limit}]
    low, high = (sensor.min, sensor.max) if sensor is not None else scale or (None, None)
    return SeriesPanel(  # type: ignore[call-arg]  # mypy sees only the fields grafanalib's subclass adds
        title=title,
        description=description,
        dataSource=DATASOURCE,
        targets=[InfluxDBTarget(query=query, alias=alias, datasource=DATASOURCE, refId="A")],
        interval=f"{every_s}s",
        maxDataPoints=None,  # Grafana's default: one point per pixel (grafanalib's is 100)
        gridPos=grid,
        thresholds=steps,
        thresholdsStyleMode="line" if len(steps) > 1 else "off",
        unit=unit or "",
        rangeMin=low,
        rangeMax=high,
        legendCalcs=[],
        spanNullsMs=GAP_INTERVALS * every_s * 1000,
        **more,
    )


@cache
def _grid(i: int, y0: int) -> GridPos:
    per_row = 24 // PANEL_WIDTH
    return GridPos(
        h=PANEL_HEIGHT, w=PANEL_WIDTH, x=(i % per_row) * PANEL_WIDTH, y=y0 + (i // per_row) * PANEL_HEIGHT
    )


def _resolution_variable(influx: InfluxFacts) -> list[Template]:
    """Raw readings or a tier of means; each dashboard links to the long ranges with a tier chosen."""
    if not influx.tiers:
        return []
    choices = [("raw readings", influx.raw)] + [(t.label, t.name) for t in influx.tiers]
    return [
        Template(
            type="custom",
            name=RESOLUTION,
            label="Resolution",
            query=",".join(f"{text} : {value}" for text, value in choices),
            options=[{"text": t, "value": v, "selected": i == 0} for i, (t, v) in enumerate(choices)],
            refresh=0,
            sort=0,
        )
    ]


def _links(stack: Stack) -> list[DashboardLink]:
    links = [DashboardLink(title="Dashboards", type="dashboards", asDropdown=True, tags=_tags(stack))]
    for tier in stack.influx.tiers:
        links.append(
            DashboardLink(
                title=f"Last {tier.keep} ({tier.label})",
                type="link",
                icon="dashboard",
                tooltip=f"The long-term series kept {tier.keep}",
                uri=f"?var-{RESOLUTION}={tier.name}&from=now-{_range(tier.keep)}&to=now",
                keepTime=False,
            )
        )
    return links


def _range(keep: str) -> str:
    return "5y" if keep == "inf" else keep


def _dashboard(
    stack: Stack, uid: str, title: str, panels: list[Any], variables: list[Template], tiers: bool = True
) -> Dashboard:
    """tiers: whether the panels can read a tier of means (the readings can; the Pi's are raw)."""
    tiered = tiers and bool(stack.influx.tiers)
    return Dashboard(
        uid=uid,
        title=title,
        description="Generated by polysource from the inventory; edit the inventory, not Grafana.",
        tags=_tags(stack),
        editable=False,
        graphTooltip=1,
        timezone="browser",
        time=Time("now-24h", "now"),
        refresh="30s",
        schemaVersion=SCHEMA_VERSION,
        templating=Templating(list=(_resolution_variable(stack.influx) if tiered else []) + variables),
        links=_links(stack) if tiered else _links(stack)[:1],
        panels=panels,
    )


def _tags(stack: Stack) -> list[str]:
    return list(dict.fromkeys([TAG, stack.name]))  # the project may be called polysource too


def _stream_unit(stack: Stack, stream: str) -> str | None:
    units = {s.unit for s in stack.sensors_of(stream)}
    return next(s.grafana_unit for s in stack.sensors_of(stream)) if len(units) == 1 else None


def overview(stack: Stack) -> Dashboard:
    """One repeated panel per stream: the sensors shown are the variable's choice, from InfluxDB."""
    panels: list[Any] = []
    variables = []
    y = 0
    for name, stream in stack.streams.items():
        sensors = sorted(s.id for s in stack.sensors_of(name))
        if not sensors:
            continue
        variable = names.stream_variable(name)
        variables.append(_sensor_variable(stack.dialect, stream, variable, sensors))
        row = Row(title=name, id=len(panels) + 1, gridPos=GridPos(h=1, w=24, x=0, y=y))  # type: ignore[call-arg]
        panels.append(row)
        panels.append(
            _panel(
                f"${variable}",
                f"Stream {name}: the sensors chosen above, one panel each",
                stack.dialect.stream_panel(stream, variable),
                f"${variable}",
                GridPos(h=PANEL_HEIGHT, w=PANEL_WIDTH, x=0, y=y + 1),
                _stream_unit(stack, name),
                min(stack.sensors[s].every_s for s in sensors),
                id=len(panels) + 1,
                repeat=Repeat(direction="h", variable=variable, maxPerRow=24 // PANEL_WIDTH),
            )
        )
        y += PANEL_HEIGHT + 1
    return _dashboard(stack, dashboard_uid(stack), f"{stack.name}: overview", panels, variables)


def _sensor_variable(dialect: InfluxDialect, stream: StreamFacts, name: str, sensors: list[str]) -> Template:
    return Template(
        type="query",
        name=name,
        label=f"Sensors ({stream.measurement})",
        dataSource=DATASOURCE,
        query=dialect.sensor_variable(stream),
        refresh=1,
        sort=1,
        multi=True,
        default=sensors[:3],
    )


def group_dashboards(stack: Stack) -> Iterator[Dashboard]:
    """One dashboard per group, in pages of PAGE panels, each panel with its sensor's facts."""
    groups: dict[str, list[SensorFacts]] = {}
    for sensor in stack.sensors.values():
        groups.setdefault(sensor.group, []).append(sensor)
    shapes: dict[str, PanelTemplate | None] = {}
    for group, sensors in groups.items():
        pages = [sensors[i : i + names.PAGE] for i in range(0, len(sensors), names.PAGE)]
        for number, page in enumerate(pages, 1):
            panels = [_sensor_panel(stack, sensor, i, shapes) for i, sensor in enumerate(page)]
            title = f"{stack.name}: {group}" + (f" ({number}/{len(pages)})" if len(pages) > 1 else "")
            yield _dashboard(stack, names.group_uid(stack.name, group, number), title, panels, [])


SENSOR_SLOTS = ("title", "description", "query", "alias", "x", "y", "id")


def _sensor_panel(
    stack: Stack, sensor: SensorFacts, i: int, shapes: dict[str, PanelTemplate | None]
) -> SeriesPanel | EncodedPanel:
    """The i-th panel of a page: its shape's template filled in, or (a shape whose own texts
    hold a slot) the panel built whole."""
    grid = _grid(i, 0)
    title = sensor.title
    description = f"Sensor {sensor.id} ({sensor.unit}), stream {sensor.stream}"
    query = stack.dialect.panel(sensor.series)
    key = shape_key(
        sensor.grafana_unit,
        sensor.every_s,
        sensor.min,
        sensor.max,
        [(t.color, t.value) for t in sensor.thresholds],
    )
    if key not in shapes:
        shape = _sensor_panel_of(sensor, {name: slot(name) for name in SENSOR_SLOTS})
        try:
            shapes[key] = PanelTemplate(dumps(shape), SENSOR_SLOTS)
        except ValueError:
            shapes[key] = None
    template = shapes[key]
    if template is None:
        values = {"title": title, "description": description, "query": query, "alias": title}
        return _sensor_panel_of(sensor, values | {"x": grid.x, "y": grid.y, "id": i + 1})
    shown = encoded(title)
    return EncodedPanel(
        template.pieces.fill(
            {
                "title": shown,
                "description": encoded(description),
                "query": encoded(query),
                "alias": shown,
                "x": str(grid.x),
                "y": str(grid.y),
                "id": str(i + 1),
            }
        )
    )


def _sensor_panel_of(sensor: SensorFacts, values: dict[str, Any]) -> SeriesPanel:
    grid = GridPos(h=PANEL_HEIGHT, w=PANEL_WIDTH, x=values["x"], y=values["y"])
    return _panel(
        values["title"],
        values["description"],
        values["query"],
        values["alias"],
        grid,
        sensor.grafana_unit,
        sensor.every_s,
        sensor,
        id=values["id"],
    )


def pi_dashboard(stack: Stack) -> Dashboard:
    """The Pi watching itself (stack/host.py): what Telegraf gathers of its host, and its writes."""
    every_s = host.EVERY_S
    panels = []
    for i, metric in enumerate(host.PANELS):
        alias = f"{metric.title} $tag_{metric.per_tag}" if metric.per_tag else metric.title
        panels.append(
            _panel(
                metric.title,
                f"{metric.measurement}.{metric.field}" + (" (increase)" if metric.counter else ""),
                stack.dialect.host(metric, "mean", stack.dialect.grafana_interval),
                alias,
                _grid(i, 0),
                metric.unit,
                every_s,
                limit=host.DISK_ALERT_PERCENT if metric is host.DISK else None,
                scale=(0, 100) if metric.unit == "percent" else None,
                id=i + 1,
            )
        )
    return _dashboard(stack, dashboard_uid(stack, "pi"), f"{stack.name}: Pi", panels, [], tiers=False)


def render_dashboards(stack: Stack) -> dict[str, str]:
    """File name -> JSON text, byte-identical across renders of the same inventory.

    grafanalib's attribute checks are off while these are built: every value here is typed and
    validated with the inventory, the output is checked against Grafana's schema in the tests,
    and the checks were a tenth of a 10,000-sensor render."""
    with attr.validators.disabled():
        built = [overview(stack), pi_dashboard(stack), *group_dashboards(stack)]
    boards = [generated(b) for b in built]
    return {f"{b['uid']}.json": dashboard_text(b) for b in boards}
