"""Texts written once and filled in many times: at 10,000 sensors, building and encoding each
group panel with grafanalib, and str.format parsing the alert rule's template 20,000 times, were
most of a render (bench/render.py).

A panel: grafanalib still builds every panel's shape (its unit, range, thresholds, interval),
with slots (`\\x00name\\x00`, which JSON writes as `"\\u0000name\\u0000"`) where a sensor's
own texts and numbers go; filling joins the encoded pieces with each value encoded as json.dumps
would, so the text is byte for byte what encoding the whole panel gives
(tests/test_text_pieces.py). A shape whose own texts hold a slot is not used: the caller encodes
those panels whole. An alert rule: RULE's fields, split once.
"""

import json
import operator
import re
import string
from collections.abc import Callable, Mapping
from typing import Any

_encode_string: Callable[[str], str] = (
    getattr(json.encoder, "c_encode_basestring", None) or json.encoder.encode_basestring
)
_SLOT = re.compile(r'"\\u0000([a-z]+)\\u0000"')


def slot(name: str) -> str:
    """The placeholder a shape holds where the value `name` goes."""
    return f"\x00{name}\x00"


def encoded(text: str) -> str:
    """Text as json.dumps(ensure_ascii=False) writes it."""
    return _encode_string(text)


class Pieces:
    """Text split once at its slots and filled by joining: str.format parses its template on
    every call, which was most of writing 20,000 alert rules."""

    def __init__(self, literals: list[str], slots: list[str]):
        self.literals, self.slots = literals, slots
        # Filled by %-formatting, the fastest join there is: `%` in the literals doubled.
        self._text = "%s".join(literal.replace("%", "%%") for literal in literals)
        self._pick = operator.itemgetter(*slots) if len(slots) > 1 else lambda values: (values[slots[0]],)

    @classmethod
    def of_format(cls, text: str) -> "Pieces":
        """From a str.format template of plain `{name}` fields (`{{` and `}}` as braces)."""
        literals, slots = [""], []
        for literal, name, spec, conversion in string.Formatter().parse(text):
            literals[-1] += literal
            if name is not None:
                if spec or conversion or not name.isidentifier():
                    raise ValueError(f"{{{name}}}: only plain fields")
                slots.append(name)
                literals.append("")
        return cls(literals, slots)

    def partly(self, values: Mapping[str, str]) -> "Pieces":
        """The same with some slots filled for good (what a whole render shares)."""
        literals, slots = [self.literals[0]], []
        for name, literal in zip(self.slots, self.literals[1:], strict=True):
            if name in values:
                literals[-1] += values[name] + literal
            else:
                slots.append(name)
                literals.append(literal)
        return Pieces(literals, slots)

    def fill(self, values: Mapping[str, str]) -> str:
        """values: each slot's text, as it goes in (encoded already)."""
        return self._text % self._pick(values) if self.slots else self.literals[0]


class PanelTemplate:
    """An encoded panel split at its slots."""

    def __init__(self, text: str, names: tuple[str, ...]):
        split = _SLOT.split(text)
        self.pieces = Pieces(split[0::2], split[1::2])
        if sorted(self.pieces.slots) != sorted(names):
            raise ValueError(f"the shape holds slots {self.pieces.slots}, expected each of {names} once")


class EncodedPanel(str):
    """A panel already encoded as JSON text: dashboard_text writes it as it is."""

    __slots__ = ()


def shape_key(*facts: Any) -> str:
    """Facts that make two panels' shapes alike, told apart by type (0 and 0.0 encode apart)."""
    return repr(facts)
