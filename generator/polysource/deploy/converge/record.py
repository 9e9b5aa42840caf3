"""What converge made true, recorded in each service's data volume (settings in clear, secrets as
digests), and what the inventory wants now: the plan's `converge` lines and blockers. Pure."""

import json
import math
from dataclasses import dataclass, field
from typing import Any

from polysource import secrets
from polysource.durations import seconds
from polysource.secrets import SecretValues
from polysource.stack import Stack, paths
from polysource.stack.model import InfluxFacts

STATE_VERSION = 1
RETENTION_POLICY = "autogen"


@dataclass(frozen=True)
class Desired:
    """A service's stateful settings as the inventory and secrets want them."""

    service: str
    data_path: str  # folder of the data volume, where the record is kept
    settings: dict[str, str]  # shown in plans, old -> new
    secrets: dict[str, str] = field(default_factory=dict)  # what it protects -> digest

    def record(self) -> bytes:
        document = {"version": STATE_VERSION, "settings": self.settings, "secrets": self.secrets}
        return json.dumps(document, indent=2, sort_keys=True).encode() + b"\n"


def read_record(data: bytes | None) -> dict[str, Any] | None:
    try:
        record = json.loads(data) if data else None
    except ValueError:
        return None
    return record if isinstance(record, dict) and record.get("version") == STATE_VERSION else None


def shard_duration(retention: str) -> str:
    """InfluxDB's own shard-group defaults: 1d below 6 months of retention, 7d above."""
    return "1d" if seconds(retention) <= 180 * 86400 else "7d"


def go_duration(duration: str) -> str:
    """An inventory duration as InfluxDB 1.x shows it (90d -> 2160h0m0s, inf -> 0s)."""
    total = seconds(duration)
    if math.isinf(total):
        return "0s"
    hours, rest = divmod(int(total), 3600)
    return f"{hours}h{rest // 60}m{rest % 60}s"


def _tiers_text(influx: InfluxFacts) -> str:
    return ", ".join(f"{t.every} means kept {t.keep}" for t in influx.tiers) or "none"


def desired_state(stack: Stack, values: SecretValues) -> dict[str, Desired]:
    """service -> its desired state, for the services deploy converges."""
    influx = stack.influx
    if influx.version == 1:
        data_path = paths.INFLUXDB1_DATA
        settings = {
            "database": influx.database,
            "retention": influx.retention,
            "downsample": _tiers_text(influx),
            "admin user": str(influx.admin.user),
            "write user": str(influx.writer.user),
            "read user": str(influx.reader.user),
        }
        protected = {
            f"password of user {influx.admin.user}": influx.admin.password,
            f"password of user {influx.writer.user}": influx.writer.password,
            f"password of user {influx.reader.user}": influx.reader.password,
        }
    else:
        data_path = paths.INFLUXDB2_DATA
        settings = {
            "organization": influx.organization,
            "bucket": influx.database,
            "retention": influx.retention,
            "downsample": _tiers_text(influx),
            "admin user": str(influx.admin.user),
        }
        protected = {
            f"password of user {influx.admin.user}": influx.admin.password,
            "operator token": influx.writer.password,
        }
    grafana = stack.grafana
    return {
        "influxdb": Desired(
            "influxdb", data_path, settings, {k: secrets.digest(s, values[s]) for k, s in protected.items()}
        ),
        "grafana": Desired(
            "grafana",
            paths.GRAFANA_DATA,
            {"admin user": str(grafana.admin.user)},
            {
                f"password of user {grafana.admin.user}": secrets.digest(
                    grafana.admin.password, values[grafana.admin.password]
                )
            },
        ),
    }


def changes(desired: Desired, recorded: dict[str, Any] | None) -> list[str]:
    """What converging will change, in words, without any secret value."""
    if recorded is None:
        shown = ", ".join(f"{k} {v}" for k, v in desired.settings.items())
        return [f"not converged yet: {shown}"]
    old_settings = recorded.get("settings", {})
    found = []
    for key, new in desired.settings.items():
        old = old_settings.get(key)
        if old != new:
            note = ""
            if key == "retention" and old and seconds(new) < seconds(old):
                note = f" (readings older than {new} will be deleted)"
            if key in ("database", "bucket") and old:
                note = " (the old one is kept, its readings are not moved)"
            found.append(f"{key} {old} -> {new}{note}")
    old_secrets = recorded.get("secrets", {})
    found += [what for what, digest in desired.secrets.items() if old_secrets.get(what) != digest]
    return found


def blockers(desired: Desired, recorded: dict[str, Any] | None) -> list[str]:
    """Changes no tool can make after setup; deploy stops before changing anything."""
    if recorded is None or "operator token" not in desired.secrets:
        return []
    old = recorded.get("secrets", {}).get("operator token")
    if old is not None and old != desired.secrets["operator token"]:
        return [
            "influxdb: INFLUXDB_TOKEN differs from the operator token InfluxDB 2 was set up with, and "
            "InfluxDB 2 cannot take a chosen token after setup: put the previous value back in the .env, "
            "or create a new all-access token with `influx auth create` and set that one"
        ]
    return []


# --- InfluxDB 1.x -------------------------------------------------------------------------------

# The statements go through the exec's environment to the shell's printf (a builtin) and on to
# the CLI's standard input; the CLI reads the account from INFLUX_USERNAME / INFLUX_PASSWORD.
# -host $HOSTNAME: the real server, not the temporary one the image's setup runs on 127.0.0.1.
