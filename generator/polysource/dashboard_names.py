"""The names render gives the generated dashboards: uids (also their file names) and the overview's
variables, derived from the project, the groups and the streams.

They live below the inventory so its rules can reserve every name once, in one registry, and
refuse a second owner where it is written (a group named `climat-2` beside a group `climat` of
49 sensors, whose second page is `PROJECT-climat-2`); render reads the same functions.
"""

import hashlib
import re
import unicodedata
from collections.abc import Iterable

PAGE = 48  # panels per group dashboard: more and a browser tab slows to a crawl
RESERVED = ("overview", "pi")  # a sensor group of that name (in any case) gets a uid with a digest


def dashboard_uid(project: str, name: str = "overview") -> str:
    """The overview's (or the Pi's) uid, stable across renders so links and bookmarks survive."""
    return f"{project}-{name}"[:40]


def group_uid(project: str, group: str, page: int) -> str:
    """Grafana uids are at most 40 of [A-Za-z0-9_-]: a readable prefix and a digest of the rest."""
    ascii_name = unicodedata.normalize("NFKD", f"{project}-{group}").encode("ascii", "ignore").decode()
    readable = re.sub(r"[^A-Za-z0-9_-]+", "-", ascii_name).strip("-")
    suffix = f"-{page}" if page > 1 else ""
    exact = readable == f"{project}-{group}" and group.casefold() not in RESERVED  # one file on macOS
    if exact and len(readable) + len(suffix) <= 40:
        return readable + suffix
    digest = hashlib.sha256(f"{group}".encode()).hexdigest()[:8]
    return f"{readable[: 40 - 9 - len(suffix)]}-{digest}{suffix}"


def pages(count: int) -> int:
    return max(1, -(-count // PAGE))


def stream_variable(stream: str) -> str:
    """A variable name Grafana accepts ($ then word characters), unique per stream."""
    tail = re.sub(r"\W+", "_", stream, flags=re.ASCII).strip("_")
    return f"sensor_{tail}_{hashlib.sha256(stream.encode()).hexdigest()[:4]}"


def collisions(project: str, groups: dict[str, int], streams: Iterable[str]) -> list[tuple[str, str, str]]:
    """(owner, name, first owner) for each generated name taken twice, in one registry: uids
    (and so file names, compared as a case-insensitive file system does) and overview variables.
    groups: group -> its sensor count, in the inventory's order."""
    taken: dict[str, str] = {
        dashboard_uid(project).casefold(): "the overview",
        dashboard_uid(project, "pi").casefold(): "the Pi dashboard",
    }
    found = []
    for group, count in groups.items():
        for page in range(1, pages(count) + 1):
            uid = group_uid(project, group, page)
            owner = f"group {group!r}" + (f" (page {page})" if page > 1 else "")
            first = taken.setdefault(uid.casefold(), owner)
            if first != owner:
                found.append((f"group:{group}", uid, first))
    variables: dict[str, str] = {}
    for stream in streams:
        name = stream_variable(stream)
        first = variables.setdefault(name, f"stream {stream!r}")
        if first != f"stream {stream!r}":
            found.append((f"stream:{stream}", name, first))
    return found
