"""The backup archive: what it holds, how it is named, which ones a prune keeps.

One gzip'd tar per backup, `<project>-<UTC time>.tar.gz`, written as `.partial` and renamed
once whole, holding:

    backup.json      project, time, InfluxDB version and names, each part's size and SHA-256
    influxdb.tar     the database's own backup (influxd backup -portable, or influx backup)
    grafana.tar      Grafana's data folder (users, preferences, annotations, alert state)
    output/...       the rendered files the stack ran, with their manifest, and the inventory

Pure: no Docker here, so naming, pruning and the checks of a damaged archive are tested alone.
"""

import hashlib
import json
import re
import tarfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from polysource.errors import PolysourceError

FORMAT = 1
INDEX = "backup.json"
INFLUX_PART = "influxdb.tar"
GRAFANA_PART = "grafana.tar"
OUTPUT_PREFIX = "output/"
SUFFIX = ".tar.gz"
STAMP = "%Y%m%dT%H%M%SZ"


class BackupError(PolysourceError):
    """A backup that cannot be taken, or an archive that cannot be restored."""


def archive_name(project: str, when: datetime) -> str:
    return f"{project}-{when.astimezone(UTC).strftime(STAMP)}{SUFFIX}"


def archives(folder: Path, project: str) -> list[Path]:
    """The project's archives in folder, oldest first (their names sort by time)."""
    pattern = re.compile(re.escape(project) + r"-\d{8}T\d{6}Z" + re.escape(SUFFIX) + "$")
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if pattern.match(p.name) and p.is_file())


def to_prune(folder: Path, project: str, keep: int) -> list[Path]:
    """The archives beyond the `keep` newest."""
    found = archives(folder, project)
    return found[: max(len(found) - keep, 0)]


@dataclass
class Part:
    name: str
    size: int
    sha256: str


def digest_file(path: Path) -> Part:
    sha = hashlib.sha256()
    size = 0
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            sha.update(chunk)
            size += len(chunk)
    return Part(path.name, size, sha.hexdigest())


def index(project: str, when: datetime, influx: dict[str, Any], parts: list[Part]) -> bytes:
    document = {
        "format": FORMAT,
        "project": project,
        "created": when.astimezone(UTC).isoformat(timespec="seconds"),
        "influxdb": influx,
        "parts": {p.name: {"bytes": p.size, "sha256": p.sha256} for p in parts},
    }
    return json.dumps(document, indent=2, sort_keys=True).encode() + b"\n"


def read_index(tar: tarfile.TarFile, shown: str) -> dict[str, Any]:
    try:
        member = tar.getmember(INDEX)
        handle = tar.extractfile(member)
        document = json.loads(handle.read()) if handle else None
    except (KeyError, ValueError, tarfile.TarError, OSError, EOFError) as error:
        raise BackupError(f"{shown}: not a polysource backup ({INDEX} unreadable: {error})") from None
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise BackupError(f"{shown}: not a polysource backup of format {FORMAT}")
    return document


def extract_part(
    tar: tarfile.TarFile, name: str, expected: dict[str, Any], into: IO[bytes], shown: str
) -> None:
    """Copy one part out, checking it against the index: a damaged archive restores nothing."""
    try:
        handle = tar.extractfile(tar.getmember(name))
    except (KeyError, tarfile.TarError, OSError, EOFError) as error:
        raise BackupError(f"{shown}: {name} is missing or damaged: {error}") from None
    if handle is None:
        raise BackupError(f"{shown}: {name} is not a file")
    sha, size = hashlib.sha256(), 0
    try:
        while chunk := handle.read(1 << 20):
            sha.update(chunk)
            size += len(chunk)
            into.write(chunk)
    except (tarfile.TarError, OSError, EOFError) as error:
        raise BackupError(f"{shown}: {name} is damaged: {error}") from None
    if sha.hexdigest() != expected.get("sha256") or size != expected.get("bytes"):
        raise BackupError(f"{shown}: {name} does not match its checksum: the archive is damaged")


def open_archive(path: Path) -> tarfile.TarFile:
    try:
        return tarfile.open(path, mode="r:gz")
    except (OSError, tarfile.TarError, EOFError) as error:
        raise BackupError(f"{path}: cannot open the archive: {error}") from None
