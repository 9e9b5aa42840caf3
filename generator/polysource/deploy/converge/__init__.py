"""Stateful settings made true on every deploy, not only on the image's first start.

The official images read their database, users, passwords and retention once, when the data
volume is empty (and InfluxDB 1.8's setup stops half way on names and passwords its shell script
does not quote). So after a service answers, deploy converges it with the tools inside its
image, through exec: the `influx` CLI (1.8 and 2.7) and `grafana cli`. Secrets reach those tools
through the exec's environment and standard input, never a command line.

What was converged is recorded in the service's data volume (settings in clear, secrets as
digests), so the plan can say what will change (`retention 90d -> 30d`, `password of user
telegraf`) and a deploy with nothing changed does nothing.

One module per reason to change: `record` (the recorded state, pure), `influx1`, `influx2`,
`grafana`, and `tiers` (when the long-term series are computed); this module says which converger
each stateful service has.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from polysource.deploy.converge.grafana import converge_grafana
from polysource.deploy.converge.influx1 import INFLUX1_ANSWERS, converge_influx1
from polysource.deploy.converge.influx2 import INFLUX2_ANSWERS, converge_influx2
from polysource.runtime.influx import Exec
from polysource.secrets import SecretValues
from polysource.stack import Stack, paths


@dataclass(frozen=True)
class Converger:
    """How deploy converges one service: when it answers, and what to run."""

    answers: list[str] | None  # exits 0 once the real server answers; None: the healthcheck
    apply: Callable[[Exec, dict[str, Any] | None, list[str]], None]


def convergers(stack: Stack, values: SecretValues) -> dict[str, Converger]:
    influx = stack.influx
    if influx.version == 1:
        influx_converger = Converger(
            ["sh", "-c", INFLUX1_ANSWERS.format(port=paths.INFLUX_PORT)],
            lambda box, recorded, previous: converge_influx1(box, influx, values, recorded, previous),
        )
    else:
        influx_converger = Converger(
            ["sh", "-c", INFLUX2_ANSWERS.format(port=paths.INFLUX_PORT)],
            lambda box, recorded, previous: converge_influx2(box, influx, values, recorded),
        )
    return {
        "influxdb": influx_converger,
        "grafana": Converger(
            None,
            lambda box, recorded, previous: converge_grafana(box, stack.grafana, values, recorded),
        ),
    }


def previous_secrets(service: str, env: dict[str, str]) -> list[str]:
    """Passwords a service's previous container was given: where converge looks when the desired
    one is refused (the admin password was changed in the .env)."""
    key = {"influxdb": "INFLUXDB_ADMIN_PASSWORD"}.get(service)
    return [env[key]] if key and env.get(key) else []
