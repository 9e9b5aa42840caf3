"""MQTT topic patterns with {name} levels: polysource/{site}/{sensor}."""

import re

PLACEHOLDER = re.compile(r"^\{([A-Za-z_][A-Za-z0-9_]*)\}$")
SENSOR = "sensor"


def placeholders(topic: str) -> list[str | None]:
    """Per level: the placeholder's name, or None for a literal level."""
    return [m.group(1) if (m := PLACEHOLDER.match(level)) else None for level in topic.split("/")]


def subscription(topic: str) -> str:
    """The MQTT filter that matches the pattern: each {name} level becomes +."""
    levels = topic.split("/")
    return "/".join("+" if name else level for name, level in zip(placeholders(topic), levels, strict=True))


MAX_TOPIC_BYTES = 65_535  # MQTT's UTF-8 string: a 16-bit length


def shared(project: str, topic_filter: str, instances: int) -> str:
    """What Telegraf subscribes to: the filter, or with several Telegrafs one shared
    subscription ($share/<project>/<filter>) delivering each reading to one of them."""
    return f"$share/{project}/{topic_filter}" if instances > 1 else topic_filter


def level_problem(value: str) -> str | None:
    """Why value cannot fill a topic level (as a sensor id or a --tag value), or None."""
    if not value:
        return "is empty"
    if any(ch in value for ch in "+#/") or any(not ch.isprintable() for ch in value):
        return "holds +, #, / or a control character, which cannot stand in one MQTT topic level"
    return None


def fill(topic: str, values: dict[str, str]) -> str:
    """The concrete topic for a pattern; KeyError names the first placeholder without a value."""
    levels = topic.split("/")
    return "/".join(
        values[name] if name else level for name, level in zip(placeholders(topic), levels, strict=True)
    )
