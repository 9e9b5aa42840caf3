"""Grafana dashboards as plain JSON: a fleet overview, and a dashboard per sensor group.

The overview repeats one panel per chosen sensor (a template variable fed by InfluxDB's tag
values), so it opens fast at any fleet size; each group gets a dashboard with one panel per
sensor (units, ranges, thresholds), split into pages of `PAGE` panels. Built directly rather than
with grafanalib: at 10,000 sensors its objects, JSON round trip and legacy-key cleanup were 80% of
render time (bench/render.py), and what it added here was a handful of default keys.
"""

import hashlib
import json
import re
import unicodedata
from collections.abc import Iterator
from functools import cache
from typing import Any

from polysource.inventory.durations import seconds
from polysource.inventory.model import Sensor
from polysource.inventory.units import grafana_unit
from polysource.stack import Stack, paths
from polysource.stack.model import InfluxFacts, StreamFacts
from polysource.stack.queries import RESOLUTION, panel_query, sensor_variable_query, stream_panel_query

SCHEMA_VERSION = 39  # Grafana 10.4-11.5; 11.6 migrates it on load without changes to these panels
DATASOURCE_UID = paths.GRAFANA_DATASOURCE_UID
DATASOURCE = {"type": "influxdb", "uid": DATASOURCE_UID}
PANEL_WIDTH = 8
PANEL_HEIGHT = 8
PAGE = 48  # panels per group dashboard: more and a browser tab slows to a crawl
TAG = "polysource"


def dashboard_uid(stack: Stack) -> str:
    """The overview's uid, stable across renders so links and bookmarks survive."""
    return f"{stack.name}-overview"[:40]


def group_uid(stack: Stack, group: str, page: int) -> str:
    """Grafana uids are at most 40 of [A-Za-z0-9_-]: a readable prefix and a digest of the rest."""
    ascii_name = unicodedata.normalize("NFKD", f"{stack.name}-{group}").encode("ascii", "ignore").decode()
    readable = re.sub(r"[^A-Za-z0-9_-]+", "-", ascii_name).strip("-")
    suffix = f"-{page}" if page > 1 else ""
    exact = readable == f"{stack.name}-{group}" and group != "overview"
    if exact and len(readable) + len(suffix) <= 40:
        return readable + suffix
    digest = hashlib.sha256(f"{group}".encode()).hexdigest()[:8]
    return f"{readable[: 40 - 9 - len(suffix)]}-{digest}{suffix}"


BASE_STEP = {"color": "green", "value": None}
NO_THRESHOLDS = {"mode": "absolute", "steps": [BASE_STEP]}
COLOR = {"mode": "palette-classic"}
LINES = {"mode": "line"}
NO_LINES = {"mode": "off"}
GAP_INTERVALS = 3  # readings missing for longer than this many intervals show as a gap
OPTIONS = {
    "legend": {"calcs": [], "displayMode": "list", "placement": "bottom", "showLegend": True},
    "tooltip": {"mode": "single", "sort": "none"},
}
# Shared, never mutated: the same objects stand in every panel (a tenth of a 10,000-panel render).


def _thresholds(sensor: Sensor | None) -> dict[str, Any]:
    if sensor is None or not sensor.thresholds:
        return NO_THRESHOLDS
    steps = [{"color": t.color, "value": t.value} for t in sorted(sensor.thresholds, key=lambda t: t.value)]
    return {"mode": "absolute", "steps": [BASE_STEP, *steps]}


def _panel(
    title: str,
    description: str,
    query: str,
    alias: str,
    grid: dict[str, int],
    sensor: Sensor | None,
    unit: str | None,
    every_s: int,
) -> dict[str, Any]:
    """A time series of one sensor's means, bucketed no finer than the sensor reports (`every_s`):
    finer buckets would be mostly empty, and the series drawn as dots. Shorter gaps are bridged,
    longer ones (a silent sensor) stay visible."""
    lines = sensor is not None and bool(sensor.thresholds)
    defaults: dict[str, Any] = {
        "color": COLOR,
        "custom": _custom(lines, every_s),
        "thresholds": _thresholds(sensor),
    }
    if unit is not None:  # a unit Grafana does not know is shown as a plain number
        defaults["unit"] = unit
    if sensor is not None and sensor.min is not None:
        defaults["min"] = sensor.min
    if sensor is not None and sensor.max is not None:
        defaults["max"] = sensor.max
    target = {
        "alias": alias,
        "datasource": DATASOURCE,
        "query": query,
        "rawQuery": True,
        "refId": "A",
        "resultFormat": "time_series",
    }
    return {
        "type": "timeseries",
        "title": title,
        "description": description,
        "datasource": DATASOURCE,
        "interval": f"{every_s}s",  # the lower limit of $__interval and v.windowPeriod
        "gridPos": grid,
        "fieldConfig": {"defaults": defaults, "overrides": []},
        "options": OPTIONS,
        "targets": [target],
    }


@cache
def _custom(lines: bool, every_s: int) -> dict[str, Any]:
    """The time series' drawing: shared between panels alike, never mutated."""
    gap_ms = GAP_INTERVALS * every_s * 1000
    return {
        "thresholdsStyle": LINES if lines else NO_LINES,
        # Nulls come from InfluxQL's fill(null), or are inserted by Grafana where two Flux windows
        # are further apart than the query's interval (its default insertNulls, relative to the
        # range: a fixed one would cut a 30-day view into dots). Spanning nulls shorter than a few
        # of the sensor's intervals joins a bucket its jitter left empty; a longer silence stays
        # a gap at every range.
        "spanNulls": gap_ms,
    }


def _grid(i: int, y0: int) -> dict[str, int]:
    per_row = 24 // PANEL_WIDTH
    return {
        "h": PANEL_HEIGHT,
        "w": PANEL_WIDTH,
        "x": (i % per_row) * PANEL_WIDTH,
        "y": y0 + (i // per_row) * PANEL_HEIGHT,
    }


def _resolution_variable(influx: InfluxFacts) -> list[dict[str, Any]]:
    """Raw readings or a tier of means; each dashboard links to the long ranges with a tier chosen."""
    if not influx.tiers:
        return []
    choices = [("raw readings", influx.raw)] + [(t.label, t.name) for t in influx.tiers]
    options = [{"text": text, "value": value, "selected": i == 0} for i, (text, value) in enumerate(choices)]
    return [
        {
            "type": "custom",
            "name": RESOLUTION,
            "label": "Resolution",
            "description": "Raw readings for recent ranges; means for months and years.",
            "query": ",".join(f"{text} : {value}" for text, value in choices),
            "current": {"text": choices[0][0], "value": choices[0][1]},
            "options": options,
            "multi": False,
            "includeAll": False,
        }
    ]


def _links(stack: Stack) -> list[dict[str, Any]]:
    links: list[dict[str, Any]] = [
        {
            "title": "Dashboards",
            "type": "dashboards",
            "icon": "external link",
            "tooltip": "",
            "tags": _tags(stack),
            "asDropdown": True,
            "targetBlank": False,
            "includeVars": False,
            "keepTime": True,
        }
    ]
    for tier in stack.influx.tiers:
        links.append(
            {
                "title": f"Last {tier.keep} ({tier.label})",
                "type": "link",
                "icon": "dashboard",
                "tooltip": f"The long-term series kept {tier.keep}",
                "url": f"?var-{RESOLUTION}={tier.name}&from=now-{_range(tier.keep)}&to=now",
                "tags": [],
                "asDropdown": False,
                "targetBlank": False,
                "includeVars": False,
                "keepTime": False,
            }
        )
    return links


def _range(keep: str) -> str:
    return "5y" if keep == "inf" else keep


def _dashboard(
    stack: Stack, uid: str, title: str, panels: list[dict[str, Any]], variables: list[dict[str, Any]]
) -> dict[str, Any]:
    for number, panel in enumerate(panels, 1):
        panel["id"] = number
    return {
        "uid": uid,
        "title": title,
        "description": "Generated by polysource from the inventory; edit the inventory, not Grafana.",
        "tags": _tags(stack),
        "editable": False,
        "graphTooltip": 1,
        "timezone": "browser",
        "time": {"from": "now-24h", "to": "now"},
        "refresh": "30s",
        "schemaVersion": SCHEMA_VERSION,
        "version": 0,
        "annotations": {"list": []},
        "templating": {"list": _resolution_variable(stack.influx) + variables},
        "links": _links(stack),
        "panels": panels,
    }


def _every_s(sensor: Sensor) -> int:
    """How often the sensor reports, in whole seconds (at least 1)."""
    return max(1, int(seconds(sensor.interval)))


def _tags(stack: Stack) -> list[str]:
    return list(dict.fromkeys([TAG, stack.name]))  # the project may be called polysource too


def _stream_unit(stack: Stack, stream: str) -> str | None:
    units = {s.unit for s in stack.inventory.sensors.values() if s.stream == stream}
    return grafana_unit(units.pop()) if len(units) == 1 else None


def overview(stack: Stack) -> dict[str, Any]:
    """One repeated panel per stream: the sensors shown are the variable's choice, from InfluxDB."""
    panels, variables = [], []
    y = 0
    for name, stream in stack.streams.items():
        sensors = sorted(s for s, sensor in stack.inventory.sensors.items() if sensor.stream == name)
        if not sensors:
            continue
        variable = _stream_variable(name)
        variables.append(_sensor_variable(stack.influx, stream, variable, sensors))
        panels.append(
            {
                "type": "row",
                "title": f"{name}",
                "collapsed": False,
                "panels": [],
                "gridPos": {"h": 1, "w": 24, "x": 0, "y": y},
            }
        )
        panel = _panel(
            f"${variable}",
            f"Stream {name}: the sensors chosen above, one panel each",
            stream_panel_query(stack.influx, stream, variable),
            f"${variable}",
            {"h": PANEL_HEIGHT, "w": PANEL_WIDTH, "x": 0, "y": y + 1},
            None,
            _stream_unit(stack, name),
            min(_every_s(stack.inventory.sensors[s]) for s in sensors),
        )
        panel.update({"repeat": variable, "repeatDirection": "h", "maxPerRow": 24 // PANEL_WIDTH})
        panels.append(panel)
        y += PANEL_HEIGHT + 1
    return _dashboard(stack, dashboard_uid(stack), f"{stack.name}: overview", panels, variables)


def _stream_variable(stream: str) -> str:
    """A variable name Grafana accepts ($ then word characters), unique per stream."""
    tail = re.sub(r"\W+", "_", stream, flags=re.ASCII).strip("_")
    return f"sensor_{tail}_{hashlib.sha256(stream.encode()).hexdigest()[:4]}"


def _sensor_variable(
    influx: InfluxFacts, stream: StreamFacts, name: str, sensors: list[str]
) -> dict[str, Any]:
    first = sensors[:3]
    return {
        "type": "query",
        "name": name,
        "label": f"Sensors ({stream.measurement})",
        "datasource": DATASOURCE,
        "query": sensor_variable_query(influx, stream),
        "refresh": 1,
        "sort": 1,
        "multi": True,
        "includeAll": False,
        "current": {"text": first, "value": first},
        "options": [],
    }


def group_dashboards(stack: Stack) -> Iterator[dict[str, Any]]:
    """One dashboard per group, in pages of PAGE panels, each panel with its sensor's facts."""
    groups: dict[str, list[tuple[str, Sensor]]] = {}
    for sensor_id, sensor in stack.inventory.sensors.items():
        groups.setdefault(sensor.group, []).append((sensor_id, sensor))
    for group, sensors in groups.items():
        pages = [sensors[i : i + PAGE] for i in range(0, len(sensors), PAGE)]
        for number, page in enumerate(pages, 1):
            panels = [
                _panel(
                    sensor.name or sensor_id,
                    f"Sensor {sensor_id} ({sensor.unit}), stream {sensor.stream}",
                    panel_query(stack.influx, stack.series[sensor_id]),
                    sensor.name or sensor_id,
                    _grid(i, 0),
                    sensor,
                    grafana_unit(sensor.unit),
                    _every_s(sensor),
                )
                for i, (sensor_id, sensor) in enumerate(page)
            ]
            title = f"{stack.name}: {group}" + (f" ({number}/{len(pages)})" if len(pages) > 1 else "")
            yield _dashboard(stack, group_uid(stack, group, number), title, panels, [])


def dashboard_text(board: dict[str, Any]) -> str:
    """JSON with one top-level key, and one panel, per line, keys sorted: a changed sensor is a
    one-line git diff, and the C encoder does the work (an indenting dump is pure Python and took
    1.3 s of a 10,000-sensor render)."""

    def dumps(value: Any) -> str:
        return json.dumps(value, sort_keys=True, ensure_ascii=False)

    lines = []
    for key, value in sorted(board.items()):
        if key == "panels" and value:
            panels = ",\n".join(f"    {dumps(panel)}" for panel in value)
            lines.append(f'  "panels": [\n{panels}\n  ]')
        else:
            lines.append(f"  {dumps(key)}: {dumps(value)}")
    return "{\n" + ",\n".join(lines) + "\n}\n"


def render_dashboards(stack: Stack) -> dict[str, str]:
    """File name -> JSON text, byte-identical across renders of the same inventory."""
    boards = [overview(stack), *group_dashboards(stack)]
    return {f"{b['uid']}.json": dashboard_text(b) for b in boards}
