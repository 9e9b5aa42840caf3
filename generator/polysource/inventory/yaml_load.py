"""Parse YAML while remembering where each key and value stands, for error messages.

Hostile input is ordinary input here: bytes that are not UTF-8 (or UTF-16 with its BOM),
aliases that refer to themselves or expand to billions of values, tags PyYAML cannot
construct, dates that do not exist. Each becomes a located Problem, never a traceback.
Keys are kept as written (`no:` stays the text "no", `0012:` stays "0012"), timestamps stay
text, and merge keys (`<<: *base`) may be overridden by the keys beside them, as YAML says.
"""

import codecs
import math
import re
from dataclasses import dataclass, field
from typing import Any

import yaml

from polysource.errors import Problem

Path = tuple[str | int, ...]

MAX_BYTES = 5_000_000
MAX_VALUES = 200_000  # values an alias adds each time it is used (the file's own: MAX_BYTES)
MAX_DEPTH = 64
MERGE_TAG = "tag:yaml.org,2002:merge"
BOMS = ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))


class YamlProblem(Exception):
    """A problem that stops parsing, located in the file."""

    def __init__(self, line: int, column: int, message: str):
        super().__init__(message)
        self.line, self.column, self.message = line, column, message


@dataclass
class Located:
    """Plain data plus the (line, column) of every key and value, 1-based."""

    data: Any
    values: dict[Path, tuple[int, int]] = field(default_factory=dict)
    keys: dict[Path, tuple[int, int]] = field(default_factory=dict)
    problems: list[tuple[Path, int, int, str]] = field(default_factory=list)

    def where(self, path: Path, prefer_key: bool = False) -> tuple[int, int]:
        """The closest known position of path, walking up to its parents."""
        lookups = (self.keys, self.values) if prefer_key else (self.values, self.keys)
        for end in range(len(path), -1, -1):
            for table in lookups:
                if path[:end] in table:
                    return table[path[:end]]
        return (1, 1)

    def problem(self, shown: str, path: Path, message: str, prefer_key: bool = False) -> Problem:
        return Problem(shown, *self.where(path, prefer_key), dotted(path), message)


def dotted(path: Path) -> str:
    return ".".join(f"[{p}]" if isinstance(p, int) else p for p in path).replace(".[", "[")


def decode(data: bytes) -> str:
    """UTF-8, or UTF-16 with a byte order mark (YAML allows both); YamlProblem otherwise."""
    if len(data) > MAX_BYTES:
        raise YamlProblem(1, 1, f"the file is over {MAX_BYTES // 1_000_000} MB; an inventory is far smaller")
    encoding = next((name for bom, name in BOMS if data.startswith(bom)), "utf-8")
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as error:
        before = data[: error.start]
        line = before.count(b"\n") + 1
        column = len(before) - (before.rfind(b"\n") + 1) + 1
        raise YamlProblem(
            line,
            column,
            f"not {encoding.upper()} text (byte 0x{data[error.start]:02x}); save the file as UTF-8",
        ) from None


_Base: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml: ten times faster


INT_TAG, FLOAT_TAG = "tag:yaml.org,2002:int", "tag:yaml.org,2002:float"
STR_TAG = "tag:yaml.org,2002:str"
TIMESTAMP_TAG = "tag:yaml.org,2002:timestamp"
LEADING_ZERO_TAG = "tag:polysource,2026:leading-zero"  # 03000: octal in YAML 1.1, decimal in 1.2
# YAML 1.2's core schema for numbers (https://yaml.org/spec/1.2.2/#1032-tag-resolution): what a
# reader of the file, Grafana's and Telegraf's own parsers and JSON all take for a number.
NUMBERS = (
    (LEADING_ZERO_TAG, re.compile(r"^[-+]?0[0-9]+$")),
    (INT_TAG, re.compile(r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$")),
    (
        FLOAT_TAG,
        re.compile(
            r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
        ),
    ),
)
MAX_INT = 2**63 - 1  # a number beyond 64 bits is no port, count or reading: a located error
COLLECTION_TAGS = ("tag:yaml.org,2002:map", "tag:yaml.org,2002:seq")


def _resolvers() -> dict[str, list[tuple[str, Any]]]:
    """PyYAML's resolvers without YAML 1.1's numbers (octal 03000, 1_000, 1:30, `5e1` as text)
    and timestamps (an inventory has no dates, only text), with YAML 1.2's numbers instead."""
    found = {
        first: [(tag, regexp) for tag, regexp in resolvers if tag not in (INT_TAG, FLOAT_TAG, TIMESTAMP_TAG)]
        for first, resolvers in _Base.yaml_implicit_resolvers.items()
    }
    for first in "-+.0123456789":
        found[first] = [*NUMBERS, *found.get(first, [])]
    return found


class Loader(_Base):  # type: ignore[misc]
    """Safe loading with YAML 1.2's numbers and no timestamps."""

    yaml_implicit_resolvers = _resolvers()


def _number(loader: Any, node: yaml.ScalarNode) -> int | float:
    """YAML 1.2 ints (decimal, 0o octal, 0x hex) within 64 bits, and floats."""
    if node.tag == FLOAT_TAG:
        value = float(loader.construct_yaml_float(node))
        if math.isinf(value) and "inf" not in node.value.lower():
            raise ValueError(f"{node.value} is beyond a 64-bit float's range")
        return value
    if node.tag == LEADING_ZERO_TAG:
        octal = set(node.value.lstrip("+-")) <= set("01234567")
        older = f"as octal ({int(node.value, 8)})" if octal else "as text"
        raise ValueError(
            f"{node.value} has a leading zero, which YAML 1.1 reads {older} and YAML 1.2 as "
            f"{int(node.value)}: write it without the zero, or quote it for text"
        )
    value = int(node.value, 0) if node.value[:2] in ("0o", "0x") else int(node.value)
    if abs(value) > MAX_INT:
        raise ValueError(f"a number of {len(node.value.lstrip('+-'))} digits is beyond any setting's range")
    return value


Loader.add_constructor(INT_TAG, _number)
Loader.add_constructor(LEADING_ZERO_TAG, _number)
Loader.add_constructor(FLOAT_TAG, _number)


def parse_data(text: str) -> Any:
    """The data alone, from libyaml's events, when the document is plain and sound; NOT_PLAIN
    otherwise (anchors, aliases, tags, merge keys, several documents, a syntax error, a
    duplicate key, a value that cannot be read: parse_located then says where). Recording
    positions cost as much as the rest of the loop, and a sound inventory needs none."""
    loader = Loader(text)
    scalars = _Scalars(loader)
    # frames: [container, pending key or None, is a mapping]
    stack: list[list[Any]] = []
    top: list[Any] | None = None
    root: Any = None
    documents = 0
    next_event, read = loader.get_event, scalars.value
    scalar, mapping, sequence = yaml.ScalarEvent, yaml.MappingStartEvent, yaml.SequenceStartEvent
    try:
        while True:
            event = next_event()
            kind = type(event)
            if kind is scalar:
                if event.anchor or event.tag not in (None, "!"):
                    return NOT_PLAIN
                if top is not None and top[2] and top[1] is None:
                    if event.value == "<<" and event.implicit[0]:
                        return NOT_PLAIN
                    top[1] = event.value
                    continue
                value = read(event)
                if value.__class__ is _Unreadable:
                    return NOT_PLAIN
            elif kind is mapping or kind is sequence:
                if event.anchor or event.tag not in (None, "!") or len(stack) >= MAX_DEPTH:
                    return NOT_PLAIN
                if top is not None and top[2] and top[1] is None:
                    return NOT_PLAIN  # a mapping or list as a key
                value = {} if kind is mapping else []
            elif kind is yaml.MappingEndEvent or kind is yaml.SequenceEndEvent:
                stack.pop()
                top = stack[-1] if stack else None
                continue
            elif kind is yaml.DocumentStartEvent:
                documents += 1
                if documents > 1:
                    return NOT_PLAIN
                continue
            elif kind is yaml.StreamEndEvent:
                return root
            else:
                if kind is yaml.AliasEvent:
                    return NOT_PLAIN
                continue
            if top is None:
                root = value
            elif top[2]:
                key, top[1] = top[1], None
                if key in top[0]:
                    return NOT_PLAIN
                top[0][key] = value
            else:
                top[0].append(value)
            if kind is not scalar:
                top = [value, None, kind is mapping]
                stack.append(top)
    except yaml.YAMLError:
        return NOT_PLAIN
    finally:
        loader.dispose()


NOT_PLAIN = object()


class _Scalars:
    """A scalar's value from its event, each distinct text resolved and constructed once
    (numbers, booleans and nulls are immutable; text is the event's own)."""

    def __init__(self, loader: Any):
        self.loader = loader
        self.tags: dict[tuple[str, bool], str] = {}
        self.built: dict[tuple[str, str], Any] = {}

    def tag(self, event: Any) -> str:
        implicit = event.implicit[0]
        tag = self.tags.get((event.value, implicit))
        if tag is None:
            tag = self.tags[(event.value, implicit)] = self.loader.resolve(
                yaml.ScalarNode, event.value, event.implicit
            )
        return tag

    def value(self, event: Any) -> Any:
        """The value, or _Unreadable."""
        tag = self.tags.get((event.value, event.implicit[0])) or self.tag(event)
        if tag == STR_TAG:
            return event.value
        value = self.built.get((tag, event.value), _UNSET)
        if value is _UNSET:
            value = self.built[(tag, event.value)] = _construct(self.loader, tag, event)
        return value


def parse_located(text: str) -> Located:
    """Plain documents in one pass over the parser's events; the rest (anchors, aliases, tags,
    merge keys) through composed nodes, with a budget."""
    try:
        fast = _parse_plain(text)
    except yaml.YAMLError:
        fast = None  # the node path below reports it, located
    return fast if fast is not None else _parse_nodes(text)


class _NotPlain(Exception):
    """The document needs the node path."""


def _parse_plain(text: str) -> Located | None:
    """Data and positions straight from libyaml's events: five times faster than composing
    nodes, which is most of loading a 10,000-sensor inventory (bench/render.py)."""
    located = Located(data=None)
    values, keys, problems = located.values, located.keys, located.problems
    loader = Loader(text)
    scalars = _Scalars(loader)
    # frames: [container, path, pending key or None, key mark]
    stack: list[list[Any]] = []
    documents = 0
    root: Any = None

    def place(value: Any, mark: tuple[int, int]) -> Path | None:
        nonlocal root
        if not stack:
            root = value
            values.setdefault((), mark)
            return ()
        frame = stack[-1]
        container, path = frame[0], frame[1]
        if path is None:  # inside the value of a duplicate key: dropped, as the node path does
            frame[2] = None
            return None
        if isinstance(container, list):
            child = (*path, len(container))
            container.append(value)
        else:
            key = frame[2]
            frame[2] = None
            child = (*path, key)
            if key in container:
                problems.append((child, *frame[3], "duplicate key (it is already defined above)"))
                return None
            keys.setdefault(child, frame[3])
            container[key] = value
        values.setdefault(child, mark)
        return child

    try:
        while loader.check_event():
            event = loader.get_event()
            kind = type(event)
            if kind is yaml.ScalarEvent:
                if event.anchor or event.tag not in (None, "!"):
                    raise _NotPlain
                mark = (event.start_mark.line + 1, event.start_mark.column + 1)
                frame = stack[-1] if stack else None
                if frame is not None and isinstance(frame[0], dict) and frame[2] is None:
                    if event.value == "<<" and event.implicit[0]:
                        raise _NotPlain
                    frame[2], frame[3] = event.value, mark
                    continue
                value = scalars.value(event)
                path = place(None if isinstance(value, _Unreadable) else value, mark)
                if path is None:
                    continue
                if isinstance(value, _Unreadable):
                    problems.append((path, *mark, f"cannot read this value: {value.problem}"))
            elif kind is yaml.MappingStartEvent or kind is yaml.SequenceStartEvent:
                if event.anchor or event.tag not in (None, "!"):
                    raise _NotPlain
                if stack and isinstance(stack[-1][0], dict) and stack[-1][2] is None:
                    raise _NotPlain  # a mapping or list as a key
                if len(stack) >= MAX_DEPTH:
                    raise _NotPlain
                container: Any = {} if kind is yaml.MappingStartEvent else []
                mark = (event.start_mark.line + 1, event.start_mark.column + 1)
                stack.append([container, place(container, mark), None, (1, 1)])
            elif kind is yaml.MappingEndEvent or kind is yaml.SequenceEndEvent:
                stack.pop()
            elif kind is yaml.AliasEvent:
                raise _NotPlain
            elif kind is yaml.DocumentStartEvent:
                documents += 1
                if documents > 1:
                    raise _NotPlain
    except _NotPlain:
        return None
    finally:
        loader.dispose()
    located.data = root
    return located


_UNSET = object()


@dataclass(frozen=True)
class _Unreadable:
    problem: str


def _construct(loader: Any, tag: str, event: Any) -> Any:
    node = yaml.ScalarNode(tag, event.value, event.start_mark, event.end_mark, event.style)
    try:
        return loader.construct_object(node, deep=True)
    except (yaml.YAMLError, ValueError, TypeError, OverflowError) as error:
        return _Unreadable(getattr(error, "problem", None) or str(error).splitlines()[0])


def _parse_nodes(text: str) -> Located:
    """Compose the document once, then build data and positions from the same nodes."""
    loader = Loader(text)
    try:
        root = loader.get_single_node()
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None) or getattr(error, "context_mark", None)
        line, col = (mark.line + 1, mark.column + 1) if mark else _line_column(text, error)
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        raise YamlProblem(line, col, f"YAML syntax: {problem}") from None
    finally:
        loader.dispose()
    located = Located(data=None)
    if root is not None:
        builder = _Builder(located, Loader(""))
        located.data = builder.build(root, ())
    return located


def _line_column(text: str, error: yaml.YAMLError) -> tuple[int, int]:
    """Where a reader error (a control character) stands: it has an offset, not a mark."""
    position = getattr(error, "position", None)
    if not isinstance(position, int):
        return 1, 1
    return text.count("\n", 0, position) + 1, position - text.rfind("\n", 0, position)


def _mark(node: yaml.Node) -> tuple[int, int]:
    return (node.start_mark.line + 1, node.start_mark.column + 1)


class _Builder:
    """Builds plain data from nodes with a budget, so aliases cannot loop or explode."""

    def __init__(self, located: Located, constructor: Any):
        self.located = located
        self.constructor = constructor
        self.count = 0
        self.built: set[int] = set()
        self.active: set[int] = set()

    def build(self, node: yaml.Node, path: Path) -> Any:
        if id(node) in self.built:  # an alias expanded again: the budget counts only these
            self.count += 1
        self.built.add(id(node))
        if self.count > MAX_VALUES:
            raise YamlProblem(
                *_mark(node), f"the document expands to over {MAX_VALUES:,} values (an alias bomb?)"
            )
        if len(path) > MAX_DEPTH or id(node) in self.active:
            raise YamlProblem(*_mark(node), "an alias refers to itself, or the nesting is too deep")
        self.located.values.setdefault(path, _mark(node))  # merged copies keep the explicit position
        if isinstance(node, yaml.ScalarNode):
            return self._scalar(node, path)
        if node.tag not in COLLECTION_TAGS:  # refused as on a scalar, not dropped
            kind = "list" if isinstance(node, yaml.SequenceNode) else "mapping"
            self.located.problems.append(
                (path, *_mark(node), f"cannot read this value: a {kind} tagged {node.tag!r}; remove the tag")
            )
            return None
        self.active.add(id(node))
        try:
            if isinstance(node, yaml.SequenceNode):
                return [self.build(item, (*path, i)) for i, item in enumerate(node.value)]
            assert isinstance(node, yaml.MappingNode)
            return self._mapping(node, path)
        finally:
            self.active.discard(id(node))

    def _scalar(self, node: yaml.ScalarNode, path: Path) -> Any:
        try:
            return self.constructor.construct_object(node, deep=True)
        except (yaml.YAMLError, ValueError, TypeError, OverflowError) as error:
            self.constructor.recursive_objects.pop(node, None)  # an alias to it: the same problem
            problem = getattr(error, "problem", None) or str(error).splitlines()[0]
            self.located.problems.append((path, *_mark(node), f"cannot read this value: {problem}"))
            return None

    def _mapping(self, node: yaml.MappingNode, path: Path) -> dict[str, Any]:
        result: dict[str, Any] = {}
        merges: list[yaml.Node] = []
        for key_node, value_node in node.value:
            if key_node.tag == MERGE_TAG:
                merges.append(value_node)
                continue
            if not isinstance(key_node, yaml.ScalarNode):
                self.located.problems.append((path, *_mark(key_node), "a key must be plain text"))
                continue
            key = key_node.value
            child = (*path, key)
            if key in result:
                self.located.problems.append(
                    (child, *_mark(key_node), "duplicate key (it is already defined above)")
                )
                continue
            self.located.keys.setdefault(child, _mark(key_node))
            result[key] = self.build(value_node, child)
        for merged in merges:  # explicit keys win; earlier merged mappings win over later ones
            sources = merged.value if isinstance(merged, yaml.SequenceNode) else [merged]
            for source in sources:
                if not isinstance(source, yaml.MappingNode):
                    self.located.problems.append((path, *_mark(source), "<< merges mappings only"))
                    continue
                built = self.build(source, path)
                for key, value in built.items():
                    result.setdefault(key, value)
        return result
