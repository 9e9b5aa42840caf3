"""Secret values, read where they are used: the environment, then the .env beside the inventory."""

import os
from collections.abc import Mapping
from pathlib import Path

from polysource.errors import PolysourceError


def read_dotenv(path: Path) -> dict[str, str]:
    """KEY=VALUE lines; # comments, blank lines, `export ` and surrounding quotes allowed."""
    values: dict[str, str] = {}
    if not path.is_file():
        return values
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, value = line.removeprefix("export ").split("=", 1)
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[key.strip()] = value
    return values


def resolve_secrets(
    names: list[str], inventory_dir: Path, environ: Mapping[str, str] | None = None
) -> dict[str, str]:
    """Every named secret's value; one error listing all that are missing or empty."""
    environ = os.environ if environ is None else environ
    dotenv_path = inventory_dir / ".env"
    dotenv = read_dotenv(dotenv_path)
    values = {name: environ.get(name) or dotenv.get(name, "") for name in names}
    missing = [name for name, value in values.items() if not value]
    if missing:
        raise PolysourceError(
            "missing secrets (set them in the environment or in "
            f"{dotenv_path}): {', '.join(missing)}; nothing was changed"
        )
    return values
