"""What the managed broker writes to the card so that a power cut loses nothing it queued.

Mosquitto 2.0 keeps its database in memory and saves it whole (rewritten, fsync'd, renamed) every
`autosave_interval` changes with `autosave_on_changes`; a change is a reading queued for a session
(Telegraf away or behind), an acknowledgement from Telegraf, a subscription. A reading sent
straight to a connected Telegraf is no change (src/database.c): it is saved with the next, which
Telegraf's acknowledgement of its batch is. So what waits at the broker is on disk after every
`save_every` changes, and a save costs the size of what waits: a backlog's cost grows with it.
"""

import math

from polysource.stack.model import Stack

MAX_QUEUED = 100_000  # max_queued_messages: readings one session may have waiting, beyond the window
# Bytes one waiting reading adds to Mosquitto's saved database (its message and its place in the
# session's queue, with a seed-sized payload): measured with bench/broker_durability.py, 6,000
# readings waiting cost 1,129 KiB written per reading, about this times half the backlog.
QUEUED_BYTES = 390
OUTAGE_S = 3600  # the Telegraf or InfluxDB outage render prices


def save_every(rate_per_s: float) -> int:
    """Changes between two saves: 1 (each waiting reading on disk before the next is taken) up to
    one reading a second; above, about a second's worth, so a backlog is saved about once a second
    instead of once per reading (each save is the whole backlog)."""
    return max(1, math.ceil(round(rate_per_s, 6)))  # 600 sensors every 60 s: 10, not 11


def outage_bytes(rate_per_s: float, every: int, seconds: float = OUTAGE_S) -> float:
    """Bytes written while an outage of `seconds` lets readings pile up: one save of the backlog
    so far every `every` readings."""
    backlog = waiting(rate_per_s, seconds)
    return QUEUED_BYTES * backlog * backlog / (2 * every)


def describe(stack: Stack) -> list[str]:
    """render's line about the managed broker's saves, beside the disk estimate."""
    from polysource.stack.sizing import size_text

    broker = stack.managed_broker
    if broker is None:
        return []
    every, rate = stack.broker_save_every, stack.broker_rate_per_s
    if every == 1:
        saved = "each reading waiting for Telegraf is on disk before the next is taken"
    else:
        announced = f"{rate:,.0f}/s"
        saved = (
            f"readings waiting for Telegraf are saved every {every} (a second at the {announced} announced)"
        )
    cost = size_text(outage_bytes(rate, every))
    lines = [
        f"broker {broker.name}: {saved}; a power cut loses"
        f" {'none of them' if every == 1 else 'at most those'}, and what Telegraf had taken but not"
        f" written (under a second's worth); an hour without Telegraf writes about {cost} to the card"
    ]
    if (per_s := save_rate(rate, every)) > WRITE_WARNING:
        lines.append(
            f"warning: broker {broker.name}: after an hour without Telegraf each save is the whole backlog,"
            f" about {size_text(per_s)}/s at {rate:,.0f} readings/s: more than a card shared with InfluxDB"
            " sustains; keep Telegraf's outages short (its alert rules say when it stops writing)"
        )
    return lines


WRITE_WARNING = 2e6  # bytes/s of saves a Pi's card may give the broker beside InfluxDB's writes


def save_rate(rate_per_s: float, every: int, seconds: float = OUTAGE_S) -> float:
    """Bytes/s the saves write at the end of an outage of `seconds`: the backlog, rate/every a second."""
    return QUEUED_BYTES * waiting(rate_per_s, seconds) * rate_per_s / every


def waiting(rate_per_s: float, seconds: float) -> float:
    """Readings waiting at the broker after an outage of `seconds`, up to its queue's limit."""
    return min(rate_per_s * seconds, MAX_QUEUED)
