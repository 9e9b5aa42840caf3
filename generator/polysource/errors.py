"""polysource's own errors: every failure reaches the user as readable lines, never a traceback.

Foreign errors (Docker, MQTT, HTTP, the file system) are translated into these once, where
polysource meets the foreign library; the click group prints them, with their exit status.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an input file, located so an editor can jump to it."""

    file: str
    line: int
    column: int
    key: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}:{self.column}"
        text = f"{where}: {self.key}: {self.message}" if self.key else f"{where}: {self.message}"
        return one_line(text)


def one_line(text: str) -> str:
    """Control characters and line separators shown escaped: one problem, one line."""
    return "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode() for ch in text)


class PolysourceError(Exception):
    """An error the CLI prints as is, with its own exit status."""

    exit_code = 1


class InventoryError(PolysourceError):
    """Every problem found in an inventory (or a file it names), reported all at once."""

    exit_code = 2

    def __init__(self, problems: list[Problem]):
        self.problems = sorted(set(problems), key=lambda p: (p.file, p.line, p.column, p.key, p.message))
        super().__init__("\n".join(str(p) for p in self.problems))


class SecretsError(PolysourceError):
    """A secret that is missing, unreadable or unusable where it is needed (never its value)."""


class OutputError(PolysourceError):
    """output/ cannot be written, or holds something polysource must not overwrite."""


class EngineError(PolysourceError):
    """The Docker Engine refused or failed an operation (translated from docker.errors)."""


class DeployError(PolysourceError):
    """A deploy step failed; the message says what was put back."""


class BrokerError(PolysourceError):
    """An MQTT broker could not be reached, refused us, or did not acknowledge in time."""


class InfluxError(PolysourceError):
    """InfluxDB's HTTP API could not be reached or refused a query."""


class PkiError(PolysourceError):
    """The managed broker's CA or certificate cannot be read or made (never showing a key)."""
