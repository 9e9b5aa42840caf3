"""Read an inventory file and turn every problem in it into a located, one-line message."""

import difflib
import types
import typing
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from polysource.errors import InventoryError, Problem
from polysource.inventory.crossrefs import cross_problems
from polysource.inventory.model import Inventory
from polysource.inventory.yaml_positions import Located, parse_located

KeyPath = tuple[str | int, ...]


def load_inventory(path: Path) -> tuple[Inventory, Path]:
    """The validated inventory and the folder it lives in (paths inside are relative to it)."""
    shown = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise InventoryError([Problem(shown, 1, 1, "", f"cannot read: {error.strerror}")]) from None
    return parse_inventory(text, shown, path.parent), path.parent


def parse_inventory(text: str, shown: str, base: Path = Path(".")) -> Inventory:
    try:
        located = parse_located(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None) or getattr(error, "context_mark", None)
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        problem = getattr(error, "problem", None) or str(error)
        raise InventoryError([Problem(shown, line, col, "", f"YAML syntax: {problem}")]) from None
    if located.data is None:
        raise InventoryError([Problem(shown, 1, 1, "", "the inventory is empty")])
    if not isinstance(located.data, dict):
        got = type(located.data).__name__
        raise InventoryError([Problem(shown, 1, 1, "", f"expected a mapping at the top, got {got}")])

    problems = [_duplicate(shown, dup) for dup in located.duplicates]
    inventory = None
    try:
        inventory = Inventory.model_validate(located.data)
    except ValidationError as error:
        problems += [_from_pydantic(shown, located, e) for e in error.errors()]
    for path, message in cross_problems(located.data, base):
        problems.append(Problem(shown, *located.where(path), _dotted(path), message))
    if problems or inventory is None:
        raise InventoryError(problems)
    return inventory


def _duplicate(shown: str, dup: tuple[KeyPath, int, int]) -> Problem:
    path, line, col = dup
    return Problem(shown, line, col, _dotted(path), "duplicate key (it is already defined above)")


def _dotted(path: KeyPath) -> str:
    return ".".join(f"[{p}]" if isinstance(p, int) else p for p in path).replace(".[", "[")


def _from_pydantic(shown: str, located: Located, error: dict[str, Any]) -> Problem:
    path = tuple(error["loc"])
    kind = error["type"]
    value = error.get("input")
    if kind == "extra_forbidden":
        line, col = located.where(path, prefer_key=True)
        known = _fields_at(path[:-1])
        close = difflib.get_close_matches(str(path[-1]), known, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else f"; known keys: {', '.join(known)}"
        return Problem(shown, line, col, _dotted(path), f"unknown key{hint}")
    line, col = located.where(path)
    if kind == "missing":
        return Problem(shown, line, col, _dotted(path), "required key is missing")
    return Problem(shown, line, col, _dotted(path), _message(kind, error, value))


EXPECTED = {
    "int": "an integer",
    "float": "a number",
    "string": "a string",
    "bool": "true or false",
    "dict": "a mapping",
    "model": "a mapping",
    "list": "a list",
}


def _message(kind: str, error: dict[str, Any], value: Any) -> str:
    for prefix, expected in EXPECTED.items():
        if kind.startswith(f"{prefix}_") and kind.endswith(("_type", "_parsing", "_attributes")):
            return f"expected {expected}, got {_shown(value)}"
    if kind in ("literal_error", "enum"):
        allowed = error.get("ctx", {}).get("expected", "")
        return f"expected {allowed}, got {_shown(value)}"
    if kind == "string_pattern_mismatch":
        return f"{_shown(value)} does not match {error['ctx']['pattern']}"
    return error["msg"]


def _shown(value: Any) -> str:
    if isinstance(value, dict | list):
        return type(value).__name__
    return repr(value)


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
