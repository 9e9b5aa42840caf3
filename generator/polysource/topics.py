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
    if any(ch in value for ch in "+#/") or not value.isprintable():
        return "holds +, #, / or a control character, which cannot stand in one MQTT topic level"
    return None


def fill(topic: str, values: dict[str, str]) -> str:
    """The concrete topic for a pattern; KeyError names the first placeholder without a value."""
    levels = topic.split("/")
    return "/".join(
        values[name] if name else level for name, level in zip(placeholders(topic), levels, strict=True)
    )


def matches(topic_filter: str, topic: str) -> bool:
    """Whether an MQTT filter matches a topic (MQTT 3.1.1, 4.7): + one level, # the rest (the
    parent level included); a topic starting with $ matches no wildcard in its first level."""
    wanted, levels = topic_filter.split("/"), topic.split("/")
    if topic.startswith("$") and wanted[0] in ("+", "#"):
        return False
    for i, level in enumerate(wanted):
        if level == "#":
            return True
        if i >= len(levels) or (level != "+" and level != levels[i]):
            return False
    return len(wanted) == len(levels)


def covering_filter(topics: list[str]) -> str:
    """The narrowest single filter matching every topic: a level the topics share stays, one
    where they differ becomes +, and topics of different depths end in # past the shortest
    (a HiveMQ Cloud Serverless credential holds one filter)."""
    split = [topic.split("/") for topic in dict.fromkeys(topics)]
    depth = min(len(levels) for levels in split)
    common = [
        levels[0] if all(other[i] == levels[0] for other in split) else "+"
        for i, levels in enumerate(zip(*(s[:depth] for s in split), strict=True))
    ]
    if any(len(levels) != depth for levels in split):
        common.append("#")
    return "/".join(common)
