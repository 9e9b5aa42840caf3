"""Errors that reach the user as readable lines, never as tracebacks."""

from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the inventory, located so an editor can jump to it."""

    file: str
    line: int
    column: int
    key: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}:{self.column}"
        return f"{where}: {self.key}: {self.message}" if self.key else f"{where}: {self.message}"


class PolysourceError(Exception):
    """An error the CLI prints as is, with its own exit status."""

    exit_code = 1


class InventoryError(PolysourceError):
    """Every problem found in an inventory, reported all at once."""

    exit_code = 2

    def __init__(self, problems: list[Problem]):
        self.problems = sorted(problems, key=lambda p: (p.file, p.line, p.column, p.key))
        super().__init__("\n".join(str(p) for p in self.problems))
