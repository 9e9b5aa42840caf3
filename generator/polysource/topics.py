"""MQTT topic patterns with {name} levels: polysource/{site}/{sensor}."""

import re

PLACEHOLDER = re.compile(r"^\{([A-Za-z_][A-Za-z0-9_]*)\}$")


def placeholders(topic: str) -> list[str | None]:
    """Per level: the placeholder's name, or None for a literal level."""
    return [m.group(1) if (m := PLACEHOLDER.match(level)) else None for level in topic.split("/")]


def subscription(topic: str) -> str:
    """The MQTT filter that matches the pattern: each {name} level becomes +."""
    levels = topic.split("/")
    return "/".join("+" if name else level for name, level in zip(placeholders(topic), levels, strict=True))
