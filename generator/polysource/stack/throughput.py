"""How many readings a second the stack can take, set by each broker's in-flight window.

Telegraf acknowledges a QoS 1 reading to the broker only once InfluxDB has it, and a broker sends
one session at most its window of unacknowledged messages. Telegraf writes as soon as a batch is
full: with a batch of half the window, one half is written while the broker sends the other, so a
session carries about a window per round trip plus write, instead of one window per flush
interval (measured: a window of 100 carried 2,500 readings/s with a p99 of 0.2 s, batches of the
whole window 2.6 s, batches of 1,000 one window a second).

Windows (the documented or coded defaults):
- Mosquitto: `max_inflight_messages`, 20 (mosquitto.conf(5)). The managed broker is polysource's
  own, and both its ends are the stack's: it is given 100.
- HiveMQ (the broker behind HiveMQ Cloud): at most 50 unacknowledged messages to a client,
  whatever its receive maximum (`MAX_INFLIGHT_WINDOW_SIZE_MESSAGES = 50` in HiveMQ's
  `InternalConfigurations.java`; HiveMQ Cloud's own pages give no figure).
"""

from dataclasses import dataclass

from polysource.stack.model import BrokerFacts, Stack
from polysource.stack.permissions import hivemq_cloud

MOSQUITTO_WINDOW = 20
MANAGED_WINDOW = 100
HIVEMQ_WINDOW = 50
BATCH_MAX = 1000  # Telegraf's default metric_batch_size: larger batches only cost memory
# Assumed, to stay on the safe side on a Raspberry Pi: an InfluxDB write of one batch, and the
# round trip to a cloud broker over a school's or a home's uplink (the managed one is local).
WRITE_S = 0.05
CLOUD_ROUND_TRIP_S = 0.1
LOCAL_ROUND_TRIP_S = 0.005


def default_window(managed: bool, host: str | None) -> int:
    """The window when the inventory gives none: the managed broker's own, HiveMQ's for HiveMQ
    Cloud, else Mosquitto's default (the smallest common one: a batch above the real window stalls)."""
    if managed:
        return MANAGED_WINDOW
    if hivemq_cloud(host):
        return HIVEMQ_WINDOW
    return MOSQUITTO_WINDOW


def batch_size(brokers: list[BrokerFacts]) -> int:
    """Telegraf's metric_batch_size: half the smallest window among the brokers it reads."""
    return min([BATCH_MAX, *(max(1, b.window // 2) for b in brokers)])


def round_trip_s(broker: BrokerFacts) -> float:
    return LOCAL_ROUND_TRIP_S if broker.managed else CLOUD_ROUND_TRIP_S


@dataclass(frozen=True)
class StreamCapacity:
    stream: str
    broker: str
    window: int
    sessions: int
    rate: float  # readings/s the inventory announces for this stream
    capacity: float  # readings/s its sessions carry


@dataclass(frozen=True)
class Capacity:
    streams: tuple[StreamCapacity, ...]
    writes: float  # readings/s Telegraf's writes carry, whatever the broker: batch per write
    rate: float

    @property
    def total(self) -> float:
        return min(self.writes, sum(s.capacity for s in self.streams))


def capacity(stack: Stack) -> Capacity:
    sessions = stack.telegraf_instances
    streams = []
    for name, stream in stack.streams.items():
        broker = stack.brokers[stream.broker]
        rate = sum(1 / s.interval_s for s in stack.sensors_of(name))
        carried = sessions * broker.window / (round_trip_s(broker) + WRITE_S)
        streams.append(StreamCapacity(name, broker.name, broker.window, sessions, rate, carried))
    return Capacity(tuple(streams), sessions * stack.batch / WRITE_S, stack.rate_per_s)


def describe(found: Capacity) -> list[str]:
    """render's lines: what the stack can take, then a warning per stream (or for the writes)
    the inventory's announced rate exceeds."""
    lines = [
        f"throughput: about {found.total:,.0f} readings/s at most, {found.rate:,.3g}/s announced"
        f" (QoS 1: a window of messages per round trip and write of {WRITE_S * 1000:.0f} ms)"
    ]
    for stream in found.streams:
        if stream.rate > stream.capacity:
            lines.append(
                f"warning: stream {stream.stream} announces {stream.rate:,.0f} readings/s; broker "
                f"{stream.broker}'s window of {stream.window} carries about {stream.capacity:,.0f}/s "
                f"with {stream.sessions} Telegraf session(s): raise brokers.{stream.broker}.window "
                "if the broker allows it, or telegraf.instances (a shared subscription)"
            )
    if found.rate > found.writes:
        lines.append(
            f"warning: {found.rate:,.0f} readings/s announced; Telegraf's writes carry about "
            f"{found.writes:,.0f}/s: raise telegraf.instances"
        )
    return lines
