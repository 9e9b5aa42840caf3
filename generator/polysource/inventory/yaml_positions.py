"""Parse YAML while remembering where each key and value stands, for error messages."""

from dataclasses import dataclass, field
from typing import Any

import yaml

Path = tuple[str | int, ...]


@dataclass
class Located:
    """Plain data plus the (line, column) of every key and value, 1-based."""

    data: Any
    values: dict[Path, tuple[int, int]] = field(default_factory=dict)
    keys: dict[Path, tuple[int, int]] = field(default_factory=dict)
    duplicates: list[tuple[Path, int, int]] = field(default_factory=list)

    def where(self, path: Path, prefer_key: bool = False) -> tuple[int, int]:
        """The closest known position of path, walking up to its parents."""
        lookups = (self.keys, self.values) if prefer_key else (self.values, self.keys)
        for end in range(len(path), -1, -1):
            for table in lookups:
                if path[:end] in table:
                    return table[path[:end]]
        return (1, 1)


def _mark(node: yaml.Node) -> tuple[int, int]:
    return (node.start_mark.line + 1, node.start_mark.column + 1)


# libyaml's parser when PyYAML was built with it: ten times faster on large inventories.
_Constructor = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def parse_located(text: str) -> Located:
    """Compose the document once, then build data and positions from the same nodes."""
    loader = _Constructor(text)
    try:
        root = loader.get_single_node()
    finally:
        loader.dispose()
    located = Located(data=None)
    if root is None:
        return located
    located.data = _build(root, (), located, _Constructor(""))
    return located


def _build(node: yaml.Node, path: Path, located: Located, ctor: yaml.SafeLoader) -> Any:
    located.values[path] = _mark(node)
    if isinstance(node, yaml.MappingNode):
        ctor.flatten_mapping(node)
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = ctor.construct_object(key_node, deep=True)
            key = key if isinstance(key, str | int) else str(key)
            child = (*path, key)
            if key in result:
                located.duplicates.append((child, *_mark(key_node)))
                continue
            located.keys[child] = _mark(key_node)
            result[key] = _build(value_node, child, located, ctor)
        return result
    if isinstance(node, yaml.SequenceNode):
        return [_build(item, (*path, i), located, ctor) for i, item in enumerate(node.value)]
    return ctor.construct_object(node, deep=True)
