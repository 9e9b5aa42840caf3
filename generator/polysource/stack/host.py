"""What the Pi says of itself: the measurements Telegraf writes about its host, named once for
telegraf.conf, the "Pi" dashboard and the alert rules.

Telegraf gathers them every minute beside the readings (same database or bucket, raw retention):
CPU, memory, the SoC's temperature, the filesystem holding InfluxDB's volume (on a Pi, the SD
card), the firmware's throttling flags, and its own write statistics every 10 s.
"""

from dataclasses import dataclass

PREFIX = "pi_"  # Telegraf's name_prefix on the host inputs
EVERY_S = 60  # how often the host inputs gather
# The firmware's throttling report (Raspberry Pi OS kernels; `vcgencmd get_throttled` reads the
# same): hex flags, bit 0 under-voltage, 1 frequency capped, 2 throttled, 3 soft temperature limit.
THROTTLE_DIR = "/sys/devices/platform/soc/soc:firmware"
THROTTLE_FILE = "get_throttled"
THROTTLE_BITS = {"under_voltage": 0x1, "capped": 0x2, "throttled": 0x4, "soft_temp_limit": 0x8}


@dataclass(frozen=True)
class HostMetric:
    measurement: str
    field: str
    title: str
    unit: str  # Grafana's unit id
    per_tag: str | None = None  # one series per value of this tag (the temperature sensors)
    counter: bool = False  # a running total (Telegraf's own statistics): shown as its increase


CPU = HostMetric(f"{PREFIX}cpu", "usage_active", "CPU busy", "percent")
MEMORY = HostMetric(f"{PREFIX}mem", "used_percent", "Memory used", "percent")
DISK = HostMetric(f"{PREFIX}disk", "used_percent", "Card used (InfluxDB's filesystem)", "percent")
TEMPERATURE = HostMetric(f"{PREFIX}temp", "temp", "SoC temperature", "celsius", per_tag="sensor")
THROTTLED = HostMetric(f"{PREFIX}throttle", "throttled", "Throttled (firmware)", "bool_yes_no")
UNDER_VOLTAGE = HostMetric(f"{PREFIX}throttle", "under_voltage", "Under-voltage (firmware)", "bool_yes_no")
# Several Telegrafs (telegraf.instances) tag their own statistics: each counter is its own series.
INSTANCE_TAG = "instance"
WRITES = HostMetric(
    "internal_write",
    "metrics_written",
    "Metrics written (Telegraf)",
    "short",
    per_tag=INSTANCE_TAG,
    counter=True,
)
WRITE_ERRORS = HostMetric(
    "internal_write", "write_errors", "Failed writes (Telegraf)", "short", per_tag=INSTANCE_TAG, counter=True
)

# Written by `polysource watch` (Docker's view of the project's containers), not by Telegraf:
# Docker's socket is root on the Pi, and Telegraf parses what arrives from the internet broker.
CONTAINERS = "pi_container"
RESTARTS = HostMetric(CONTAINERS, "restarts", "Container restarts", "short", per_tag="service", counter=True)
# 1 while a service's current run followed a kill, not a clean stop (a power cut, out of memory).
KILLED = HostMetric(CONTAINERS, "killed", "Back from a kill (power cut?)", "bool_yes_no", per_tag="service")

PANELS = (CPU, MEMORY, DISK, TEMPERATURE, THROTTLED, UNDER_VOLTAGE, WRITES, WRITE_ERRORS, RESTARTS, KILLED)
DISK_ALERT_PERCENT = 85
RESTARTS_ALERT = 3  # restarts within the rule's 10 minutes: a container restarting in a loop
