"""telegraf.conf: one MQTT consumer per stream, parsed with json_v2, written to InfluxDB.

One consumer per stream, not per broker: json_v2 applies every parser block to every message of
an input, so two payload styles on one input would cross-parse.
"""

import math
from dataclasses import dataclass

from polysource.render.templating import render_template
from polysource.secrets import Secret
from polysource.stack import Stack, host, paths
from polysource.stack.model import StreamFacts

INFLUX_URL = f"${{POLYSOURCE_INFLUXDB_URL:-http://influxdb:{paths.INFLUX_PORT}}}"
FLUSH_INTERVAL_S = 1
BUFFER_MIN = 10_000
BUFFER_MAX = 100_000
OUTAGE_TARGET_S = 24 * 3600
HEALTH_MIN = 5  # readings waiting for InfluxDB before Telegraf reports unhealthy...
HEALTH_WINDOW_S = 30  # ...or this many seconds of readings at the announced rate, if more


@dataclass(frozen=True)
class MqttInput(StreamFacts):
    servers: tuple[str, ...] = ()
    username: str | Secret | None = None
    password: str | None = None
    tls_ca: str | None = None


def buffer_limit(rate: float) -> int:
    """Enough for a day without InfluxDB at the announced rate, within a Pi's memory."""
    wanted = math.ceil(rate * OUTAGE_TARGET_S)
    return min(BUFFER_MAX, max(BUFFER_MIN, wanted))


def health_threshold(rate: float, limit: int) -> int:
    """Readings waiting to be written that mean "not writing": a few, or 30 s worth at the rate."""
    return min(limit // 2, max(HEALTH_MIN, math.ceil(rate * HEALTH_WINDOW_S)))


def mqtt_input(stack: Stack, stream: StreamFacts) -> MqttInput:
    broker = stack.brokers[stream.broker]
    credential = broker.credential
    return MqttInput(
        **stream.__dict__,
        servers=broker.telegraf_urls,
        username=credential.user if credential else None,  # text, or a secret: the template's `tg`
        password=credential.password.reference if credential else None,
        tls_ca=broker.ca.container_path if broker.ca else None,
    )


# The board's measured time, carried from the parser to the processor that stamps the reading with it.
MEASURED_FIELD = "polysource_measured_ms"


def render_telegraf(stack: Stack) -> str:
    rate = stack.rate_per_s
    limit = buffer_limit(rate)
    return render_template(
        "telegraf.conf.j2",
        project=stack.name,
        inputs=[mqtt_input(stack, s) for s in stack.streams.values()],
        influx_url=INFLUX_URL,
        influx=stack.influx,
        rate=rate,
        buffer_limit=limit,
        buffer_hours=(limit / rate / 3600) if rate else math.inf,
        flush_interval=f"{FLUSH_INTERVAL_S}s",
        batch=stack.batch,
        windows=sorted({stack.brokers[s.broker].window for s in stack.streams.values()}),
        health_port=paths.TELEGRAF_HEALTH_PORT,
        health_threshold=health_threshold(rate, limit),
        instance_var=paths.INSTANCE_VAR,
        data_mount=paths.TELEGRAF_DATA_MOUNT,
        host=host,
        telegrafs=stack.telegraf_instances,
        measured_field=MEASURED_FIELD,
        timed_measurements=sorted({s.measurement for s in stack.streams.values() if s.time_path}),
    )
