"""Read an inventory file and turn every problem in it into a located, one-line message."""

import difflib
import types
import typing
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from polysource.errors import InventoryError, Problem
from polysource.inventory.model import COLOR, DEVICE, DURATION, IMAGE, JSON_PATH, NAME, PROJECT, Inventory
from polysource.inventory.rules import cross_problems
from polysource.inventory.yaml_load import (
    MAX_BYTES,
    Located,
    YamlProblem,
    decode,
    dotted,
    parse_data,
    parse_located,
)
from polysource.regular_files import NotReadable, read_regular

KeyPath = tuple[str | int, ...]
# Values under these keys may be secrets: a message about them never shows the value.
SECRET_KEYS = frozenset({"password", "token", "admin_password", "write_password", "read_password", "clients"})


def load_inventory(path: Path) -> tuple[Inventory, Path]:
    """The validated inventory and the folder it lives in (paths inside are relative to it)."""
    shown = str(path)
    try:
        data = read_regular(path, MAX_BYTES)
    except NotReadable as why:
        if "folder" in str(why):
            raise InventoryError(
                [Problem(shown, 1, 1, "", "is a folder; name the inventory's YAML file")]
            ) from None
        raise InventoryError([Problem(shown, 1, 1, "", str(why))]) from None
    except OSError as error:
        reason = error.strerror or type(error).__name__
        raise InventoryError([Problem(shown, 1, 1, "", f"cannot read: {reason}")]) from None
    return parse_inventory(data, shown, path.parent), path.parent


def parse_inventory(data: bytes | str, shown: str, base: Path = Path(".")) -> Inventory:
    """The validated inventory. A sound one is read without positions (parse_data); a problem
    anywhere, and it is read again with them, for the messages."""
    try:
        text = decode(data) if isinstance(data, bytes) else data
    except YamlProblem as problem:
        raise InventoryError([Problem(shown, problem.line, problem.column, "", problem.message)]) from None
    plain = parse_data(text)
    if isinstance(plain, dict):
        try:
            inventory = Inventory.model_validate(plain)
        except ValidationError:
            pass
        else:
            if not any(True for _ in cross_problems(plain, base)):
                return inventory
    return _located_inventory(text, shown, base)


def _located_inventory(text: str, shown: str, base: Path) -> Inventory:
    """Every problem of the document, each with its line and column."""
    try:
        located = parse_located(text)
    except YamlProblem as problem:
        raise InventoryError([Problem(shown, problem.line, problem.column, "", problem.message)]) from None
    if located.data is None and not located.problems:
        raise InventoryError([Problem(shown, 1, 1, "", "the inventory is empty")])
    if not isinstance(located.data, dict):
        got = type(located.data).__name__
        raise InventoryError([Problem(shown, 1, 1, "", f"expected a mapping at the top, got {got}")])

    problems = [Problem(shown, line, col, dotted(path), msg) for path, line, col, msg in located.problems]
    inventory = None
    try:
        inventory = Inventory.model_validate(located.data)
    except ValidationError as error:
        unreadable = {path for path, *_ in located.problems}  # already reported, as what they are
        problems += [
            _from_pydantic(shown, located, e) for e in error.errors() if tuple(e["loc"]) not in unreadable
        ]
    for path, message in cross_problems(located.data, base):
        problems.append(located.problem(shown, path, message))
    if problems or inventory is None:
        raise InventoryError(problems)
    return inventory


MOVED = {
    ("storage", "influxdb", "port"): "InfluxDB is no longer published on the LAN by default (polysource's "
    "tools reach it through the Docker API): remove `port`, or write `publish: 127.0.0.1:8086` "
    "(or `publish: 8086` for every interface) if something else must reach it",
}


def _from_pydantic(shown: str, located: Located, error: Any) -> Problem:
    path = tuple(part for part in error["loc"] if part != "[key]")  # a mapping's key: its own name
    kind = error["type"]
    if kind == "extra_forbidden" and path in MOVED:
        return located.problem(shown, path, MOVED[path], prefer_key=True)
    if kind == "extra_forbidden":
        known = _fields_at(path[:-1])
        close = difflib.get_close_matches(str(path[-1]), known, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else f"; known keys: {', '.join(known) or 'none'}"
        return located.problem(shown, path, f"unknown key{hint}", prefer_key=True)
    if kind == "missing":
        return located.problem(shown, path, "required key is missing")
    secret = any(part in SECRET_KEYS for part in path)
    return located.problem(shown, path, _message(kind, error, None if secret else error.get("input")))


PATTERNS = {
    NAME: "a name: letters, digits, _ . - (at most 64, not starting with . or -)",
    JSON_PATH: "a JSON key (letters, digits, _ -), or a dotted path of keys such as data.temp",
    DURATION: "a duration such as 30s, 10m, 12h, 90d, 2w, or inf",
    COLOR: "a Grafana color name (green, dark-red, ...) or #rrggbb",
    IMAGE: "an image reference such as registry.lan/grafana:11.6.0",
    PROJECT: "a project name: lower-case letters, digits, _ and - (at most 40)",
    DEVICE: "a board name: lower-case letters, digits, _ and - (at most 31)",
}

EXPECTED = {
    "int": "an integer",
    "float": "a number",
    "string": "a string",
    "bool": "true or false",
    "dict": "a mapping",
    "model": "a mapping",
    "list": "a list",
}


def _message(kind: str, error: Any, value: Any) -> str:
    got = _shown(value)
    for prefix, expected in EXPECTED.items():
        if kind.startswith(f"{prefix}_") and kind.endswith(("_type", "_parsing", "_attributes")):
            return f"expected {expected}, got {got}"
    if kind in ("literal_error", "enum"):
        allowed = error.get("ctx", {}).get("expected", "")
        return f"expected {allowed}, got {got}"
    if kind == "string_pattern_mismatch":
        pattern = error["ctx"]["pattern"]
        return f"{got} is not {PATTERNS.get(pattern, 'of the form ' + pattern)}"
    if kind == "finite_number":
        return f"expected a finite number, got {got}"
    if value is None and "got" in str(error["msg"]):
        return str(error["msg"]).split(", got")[0]
    return str(error["msg"])


def _shown(value: Any) -> str:
    if value is None:
        return "a value not shown here (it may be a secret)"
    if isinstance(value, dict | list):
        return type(value).__name__
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _fields_at(path: KeyPath) -> list[str]:
    """Field names of the model found at path, for 'did you mean' hints."""
    model: Any = Inventory
    for part in path:
        model = _step(model, part)
        if model is None:
            return []
    return sorted(model.model_fields) if _is_model(model) else []


def _step(model: Any, part: str | int) -> Any:
    if _is_model(model):
        field = model.model_fields.get(str(part))
        return _unwrap(field.annotation) if field else None
    origin = typing.get_origin(model)
    if origin in (dict, list):
        return _unwrap(typing.get_args(model)[-1])
    return None


def _unwrap(annotation: Any) -> Any:
    while typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        annotation = _unwrap(args[0]) if len(args) == 1 else annotation
    return annotation


def _is_model(obj: Any) -> bool:
    return isinstance(obj, type) and issubclass(obj, BaseModel)
