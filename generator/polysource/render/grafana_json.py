"""grafanalib's dashboards as files Grafana and its current JSON schema accept, written so that a
changed panel is a one-line git diff.

grafanalib still writes some keys of Grafana's pre-5 model, which the current schema refuses
(Grafana ignores them), and a null for every unset option (an absent key means the same).
Generated panels come out clean from `SeriesPanel` and `Row`; a user's module is cleaned whole.
"""

import json
from typing import Any

import attr
from grafanalib.core import Dashboard, RowPanel, TimeSeries

from polysource.render.text_pieces import EncodedPanel

LEGACY_DASHBOARD_KEYS = ("__inputs", "hideControls", "sharedCrosshair", "style", "rows")
LEGACY_PANEL_KEYS = frozenset({"editable", "error", "height", "minSpan", "span"})
LEGACY_VARIABLE_KEYS = ("useTags", "tagsQuery", "tagValuesQuery")
ROW_KEYS = ("type", "title", "collapsed", "panels", "gridPos", "id", "repeat")


def json_data(value: Any) -> Any:
    """json.dumps' `default`: grafanalib objects encode themselves (as its DashboardEncoder does)."""
    encode = getattr(value, "to_json_data", None)
    if encode is None:
        raise TypeError(f"{type(value).__name__} is not JSON serializable")
    return encode()


def without_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [without_nulls(v) for v in value]
    return value


@attr.s
class SeriesPanel(TimeSeries):  # type: ignore[misc]  # grafanalib is untyped
    """grafanalib's TimeSeries, encoded as the current schema wants it. `spanNullsMs` bridges
    gaps up to that long (grafanalib's own spanNulls is only on or off); `rangeMin`/`rangeMax`
    take any number (its valueMin/valueMax take only integers, and a sensor's range is a float)."""

    spanNullsMs: int | None = attr.ib(default=None)
    rangeMin: float | None = attr.ib(default=None)
    rangeMax: float | None = attr.ib(default=None)

    def to_json_data(self) -> dict[str, Any]:
        data = super().to_json_data()
        panel = {k: v for k, v in data.items() if v is not None and k not in LEGACY_PANEL_KEYS}
        defaults = panel["fieldConfig"]["defaults"]
        for key in ("min", "max", "decimals"):
            if defaults[key] is None:
                del defaults[key]
        if self.rangeMin is not None:
            defaults["min"] = self.rangeMin
        if self.rangeMax is not None:
            defaults["max"] = self.rangeMax
        if not defaults["unit"]:
            del defaults["unit"]  # no unit: Grafana shows a plain number
        custom = defaults["custom"]
        for key in ("axisSoftMin", "axisSoftMax"):
            if custom[key] is None:
                del custom[key]
        if self.spanNullsMs is not None:
            custom["spanNulls"] = self.spanNullsMs
        panel["options"]["legend"]["showLegend"] = True  # Grafana 9's key, which grafanalib predates
        return panel


@attr.s
class Row(RowPanel):  # type: ignore[misc]
    """grafanalib's RowPanel with only the keys a row has in the current schema."""

    def to_json_data(self) -> dict[str, Any]:
        data = super().to_json_data()
        return {k: data[k] for k in ROW_KEYS if data.get(k) is not None}


def modern_shell(board: dict[str, Any]) -> dict[str, Any]:
    """A dashboard's own keys (its panels left as they are) without nulls or pre-5 keys."""
    if board.get("rows"):
        raise ValueError("uses rows (Grafana's layout before 5.0): give panels a gridPos instead")
    panels = board.get("panels")
    shell = {k: v for k, v in board.items() if k not in (*LEGACY_DASHBOARD_KEYS, "panels")}
    plain = json.loads(json.dumps(shell, default=json_data))
    shell = {k: without_nulls(v) for k, v in plain.items() if v is not None}
    if isinstance(shell.get("timepicker"), dict):
        shell["timepicker"].pop("time_options", None)
    for variable in (shell.get("templating") or {}).get("list") or []:
        if not isinstance(variable, dict):
            continue
        for key in LEGACY_VARIABLE_KEYS:
            variable.pop(key, None)
        for option in [variable.get("current"), *(variable.get("options") or [])]:
            if isinstance(option, dict):
                option.pop("tags", None)  # the tag filter Grafana removed in 8.0
    shell["panels"] = panels if panels is not None else []
    return shell


def modern_panel(panel: dict[str, Any]) -> dict[str, Any]:
    """A panel of a user's module, already plain JSON, cleaned like the generated ones (a row's
    own panels too)."""
    panel = without_nulls(panel)
    for key in LEGACY_PANEL_KEYS:
        panel.pop(key, None)
    if isinstance(panel.get("panels"), list):
        panel["panels"] = [modern_panel(p) if isinstance(p, dict) else p for p in panel["panels"]]
    thresholds = panel.get("fieldConfig", {}).get("defaults", {}).get("thresholds")
    if isinstance(thresholds, dict) and not isinstance(thresholds.get("steps"), list):
        thresholds["steps"] = []
    return panel


def generated(dashboard: Dashboard) -> dict[str, Any]:
    """A generated dashboard: its shell cleaned here, its panels (SeriesPanel, Row) clean already."""
    return modern_shell(dashboard.to_json_data())


def dumps(value: Any) -> str:
    """Keys sorted, text as it is (not \\u-escaped); grafanalib objects encode themselves."""
    return json.dumps(value, sort_keys=True, ensure_ascii=False, default=json_data)


def dashboard_text(board: dict[str, Any]) -> str:
    """JSON with one top-level key, and one panel, per line, keys sorted: a changed sensor is a
    one-line git diff, and the C encoder does the work (an indenting dump is pure Python and took
    1.3 s of a 10,000-sensor render). Panels may still be grafanalib objects, or encoded already
    (render/text_pieces.py)."""
    lines = []
    for key, value in sorted(board.items()):
        if key == "panels" and value:
            panels = ",\n".join(
                f"    {panel if isinstance(panel, EncodedPanel) else dumps(panel)}" for panel in value
            )
            lines.append(f'  "panels": [\n{panels}\n  ]')
        else:
            lines.append(f"  {dumps(key)}: {dumps(value)}")
    return "{\n" + ",\n".join(lines) + "\n}\n"
