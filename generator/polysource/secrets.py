"""Secrets: `${VAR}` references in the inventory, and their values, read only where they are used.

One module for the whole life of a secret: parsing a reference (and refusing names that would
clobber a container's own environment), the .env beside the inventory, resolution (environment
first, then .env), and the digests deploy keeps instead of values.
"""

import codecs
import hashlib
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from polysource import envfile
from polysource.errors import Problem, SecretsError
from polysource.regular_files import NotReadable, read_regular

REFERENCE = re.compile(r"^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$")
MAX_VALUE_BYTES = 4096
DOTENV_MAX_BYTES = 1_000_000

# Variables a process (or an image's entrypoint) reads for itself: as a secret, the value would
# replace the container's own PATH, HOME, ... since secrets reach containers under their name.
RESERVED = frozenset(
    {"HOME", "HOSTNAME", "IFS", "LANG", "LANGUAGE", "LOGNAME", "MAIL", "OLDPWD", "PATH", "PS1", "PS2"}
    | {"PWD", "SHELL", "SHLVL", "TERM", "TMPDIR", "TZ", "USER", "POLYSOURCE_INFLUXDB_URL"}
)
RESERVED_PREFIXES = ("LC_", "LD_", "DOCKER_", "GF_", "INFLUXD_", "TELEGRAF_", "GOMAXPROCS", "GODEBUG")
# InfluxDB 1.x reads INFLUXDB_<SECTION>_<KEY> as configuration; these are the image's own names.
IMAGE_OWN = frozenset(
    {"INFLUXDB_ADMIN_USER", "INFLUXDB_DB", "INFLUXDB_READ_USER", "INFLUXDB_USER", "INFLUXDB_WRITE_USER"}
)
INFLUXD_SECTIONS = ("INFLUXDB_HTTP_", "INFLUXDB_DATA_", "INFLUXDB_META_", "INFLUXDB_COORDINATOR_")


@dataclass(frozen=True, order=True)
class Secret:
    """A named secret; its value is looked up where it is used and never written out."""

    var: str

    @property
    def reference(self) -> str:
        return f"${{{self.var}}}"

    def __str__(self) -> str:
        return self.reference


# Values polysource makes itself (polysource.pki: the managed broker's certificate and key).
TLS_CERT = Secret("POLYSOURCE_MQTT_TLS_CERT")
TLS_KEY = Secret("POLYSOURCE_MQTT_TLS_KEY")
MADE = frozenset({TLS_CERT.var, TLS_KEY.var})


def parse(value: str) -> Secret | None:
    """The secret a `${VAR}` reference names, or None for any other text."""
    match = REFERENCE.match(value)
    return Secret(match.group(1)) if match else None


def secret_or_text(value: str) -> "str | Secret":
    """Fields that may be either (a user name): the Secret for a reference, else the text."""
    return parse(value) or value


def reserved_reason(var: str) -> str | None:
    """Why var cannot name a secret, or None when it can."""
    if var in MADE:
        return f"{var} is the managed broker's certificate, which polysource makes; choose a name of your own"
    if var in RESERVED or var.startswith(RESERVED_PREFIXES):
        return f"{var} is a variable programs read for themselves; choose a name of your own"
    if var in IMAGE_OWN or var.startswith(INFLUXD_SECTIONS):
        return f"{var} is read by the InfluxDB image as a setting; choose a name of your own"
    return None


def digest(secret: Secret, value: str) -> str:
    """A short digest of a secret's value, for labels and plans that must notice a change."""
    return hashlib.sha256(f"{secret.var}={value}".encode()).hexdigest()[:16]


def dotenv_path(inventory_dir: Path) -> Path:
    return inventory_dir / ".env"


def read_dotenv(path: Path) -> dict[str, str]:
    """The values `docker compose --env-file` reads from it (polysource.envfile): quotes,
    escapes, inline comments, `export`; a `$` Compose would substitute is refused, located.

    A file that is not UTF-8 is an error naming the line, never a traceback, and never showing
    the line's content.
    """
    try:
        data = read_regular(path, DOTENV_MAX_BYTES)
    except FileNotFoundError:
        return {}
    except NotReadable as why:
        raise SecretsError(f"{path}: {why}") from None
    data = data.removeprefix(codecs.BOM_UTF8)  # saved "with BOM" by some editors (Compose too)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        where = Problem(str(path), line, 1, "", "not UTF-8 text; save the file as UTF-8")
        raise SecretsError(str(where)) from None
    try:
        return envfile.parse(text, str(path))
    except envfile.EnvFileError as error:
        raise SecretsError(str(error.problem)) from None


class SecretValues(Mapping[Secret, str]):
    """Resolved values, by Secret; repr and str never show a value."""

    def __init__(self, values: dict[Secret, str]):
        self._values = dict(values)

    def __getitem__(self, secret: Secret) -> str:
        return self._values[secret]

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        return f"SecretValues({sorted(s.var for s in self._values)})"

    def with_values(self, more: Mapping[Secret, str]) -> "SecretValues":
        """These values and more (what polysource makes itself, polysource.pki)."""
        return SecretValues({**self._values, **more})

    def text(self, value: "str | Secret | None") -> str | None:
        """A field that may be a Secret or plain text, as the text it stands for."""
        return self._values[value] if isinstance(value, Secret) else value


def resolve(
    secrets: Iterable[Secret],
    inventory_dir: Path,
    environ: Mapping[str, str] | None = None,
    *,
    missing_ok: bool = False,
) -> SecretValues:
    """Every secret's value: the environment first, then the .env beside the inventory.

    All missing (or empty) ones are named in one error; with missing_ok they are left out.
    """
    environ = os.environ if environ is None else environ
    wanted = sorted(set(secrets))
    if not wanted:
        return SecretValues({})
    dotenv = read_dotenv(dotenv_path(inventory_dir))
    found: dict[Secret, str] = {}
    missing, unusable = [], []
    for secret in wanted:
        value = environ.get(secret.var) or dotenv.get(secret.var, "")
        if not value:
            missing.append(secret.var)
        elif "\0" in value or len(value.encode()) > MAX_VALUE_BYTES:
            unusable.append(secret.var)
        else:
            found[secret] = value
    if unusable:
        raise SecretsError(
            f"unusable secret values (a NUL byte, or over {MAX_VALUE_BYTES} bytes): {', '.join(unusable)}"
        )
    if missing and not missing_ok:
        raise SecretsError(
            f"missing secrets (set them in the environment or in {dotenv_path(inventory_dir)}): "
            f"{', '.join(missing)}; nothing was changed"
        )
    return SecretValues(found)
