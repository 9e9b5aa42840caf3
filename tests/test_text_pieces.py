"""Group dashboards' panels are encoded once per shape and filled in per sensor
(render/text_pieces.py): byte for byte what encoding every panel whole with grafanalib gives,
whatever the sensors' texts and numbers; alert rules filled by Pieces as str.format would."""

import dataclasses
import string

import pytest

from helpers import MINIMAL, write_inventory
from polysource.pipeline import load_stack
from polysource.render import dashboards
from polysource.render.alerting import RULE, RULE_PIECES
from polysource.render.text_pieces import Pieces

SENSORS = """\
  Test_4G: {stream: capteurs, unit: m}
  quote: {stream: capteurs, unit: "°C", name: 'Cuve "A" \\ $x {{y}} %s 🌡', min: -0.0, max: 100}
  zero: {stream: capteurs, unit: "°C", name: "zéro", min: 0.0, max: 100}
  zero_int: {stream: capteurs, unit: "°C", min: 0, max: 100}
  wide: {stream: capteurs, unit: ppm, name: "日本 ‰ ü", min: -5.5, max: 1e3}
  slots: {stream: capteurs, unit: ppm, group: b}
  warm: {stream: capteurs, unit: "°C", thresholds: [{value: 30, color: orange}, {value: 40, color: red}]}
  warmer: {stream: capteurs, unit: "°C", thresholds: [{value: 30, color: orange}, {value: 40.5, color: red}]}
  plain: {stream: capteurs, unit: none, interval: 5m, group: b}
"""


@pytest.fixture
def stack(tmp_path):
    text = MINIMAL.replace("sensors:\n  Test_4G: {stream: capteurs, unit: m}\n", "sensors:\n" + SENSORS)
    return load_stack(write_inventory(tmp_path, text))


def whole(monkeypatch, stack) -> dict[str, str]:
    """The dashboards with every panel built and encoded whole (no shape is ever usable)."""

    def unusable(*args, **kwargs):
        raise ValueError("no templates")

    with monkeypatch.context() as patched:
        patched.setattr(dashboards, "PanelTemplate", unusable)
        return dashboards.render_dashboards(stack)


def test_filled_panels_are_the_panels_encoded_whole(monkeypatch, stack):
    """Names the inventory refuses (control characters) given to the stack directly: a value
    holding a slot's text is a value, never a slot."""
    slots = dataclasses.replace(stack.sensors["slots"], name="\x00title\x00 \x00id\x00 \u2028")
    stack = dataclasses.replace(stack, sensors={**stack.sensors, "slots": slots})
    filled = dashboards.render_dashboards(stack)
    assert filled == whole(monkeypatch, stack)
    text = "".join(filled.values())
    assert '"min": -0.0' in text and '"min": 0.0' in text and '"min": 0,' in text  # shapes told apart
    assert '"title": "\\u0000title\\u0000 \\u0000id\\u0000 \u2028"' in text


def test_a_shape_whose_own_texts_hold_a_slot_is_encoded_whole(monkeypatch, stack):
    """A unit is the shape's own text: one that holds a slot cannot be a template."""
    odd = {
        k: dataclasses.replace(s, grafana_unit="\x00title\x00", unit="\x00title\x00")
        for k, s in stack.sensors.items()
    }
    stack = dataclasses.replace(stack, sensors=odd)
    assert dashboards.render_dashboards(stack) == whole(monkeypatch, stack)


@pytest.mark.parametrize("value", ["plain", "100%", "%s %d %%", "{x} {{y}}", "é\u2028\x00", ""])
def test_pieces_fill_as_str_format_does(value):
    names = [name for _, name, _, _ in string.Formatter().parse(RULE) if name]
    values = {name: f"{value}-{i}" for i, name in enumerate(names)}
    assert RULE_PIECES.fill(values) == RULE.format(**values)
    shared = {names[0]: values[names[0]], names[-1]: values[names[-1]]}
    assert RULE_PIECES.partly(shared).fill(values) == RULE.format(**values)
    assert Pieces.of_format("no slot at all, 100%").fill({}) == "no slot at all, 100%"
    assert Pieces.of_format("{one}%").fill({"one": value}) == f"{value}%"
