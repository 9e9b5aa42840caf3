"""The stack's services: their names, and the image pinned per service and platform, each with
the evidence it rests on. The inventory's rules, the stack model and deploy read them here.

No registry is reachable where polysource is developed and tested, so no tag below was pulled
here; each line says where its platform list was read. Check on the Pi with
`docker manifest inspect IMAGE`.
"""

from dataclasses import dataclass

from polysource.errors import PolysourceError

TELEGRAF = "telegraf"  # one, or several sharing the subscriptions, numbered
INFLUXDB = "influxdb"
GRAFANA = "grafana"
MOSQUITTO = "mosquitto"
SERVICES = (TELEGRAF, INFLUXDB, GRAFANA, MOSQUITTO)  # the inventory's target.images keys, in order
MAX_TELEGRAFS = 8


def telegraf_names(instances: int) -> list[str]:
    return [TELEGRAF] if instances == 1 else [f"{TELEGRAF}-{n}" for n in range(1, instances + 1)]


def is_telegraf(service: str) -> bool:
    return service == TELEGRAF or service.startswith(f"{TELEGRAF}-")


@dataclass(frozen=True)
class Lifecycle:
    """What a service logs when it starts, and when it is stopped cleanly (SIGTERM: deploy,
    `docker stop`, a shutdown of the host). A start whose last such line before it is a start
    followed a kill: a power cut, the OOM killer."""

    starts: str
    stops: str


LIFECYCLE = {
    # "mosquitto version 2.0.21 starting" / "... terminating" (src/mosquitto.c)
    MOSQUITTO: Lifecycle(" starting", " terminating"),
    # cmd/telegraf/telegraf.go; agent/agent.go
    TELEGRAF: Lifecycle("Starting Telegraf", "Hang on, flushing any cached metrics before shutdown"),
    # 1.8: cmd/influxd/run/command.go; cmd/influxd/main.go
    INFLUXDB + "1": Lifecycle("InfluxDB starting", "Signal received, initializing clean shutdown"),
    # 2.7: cmd/influxd/launcher/launcher.go, both
    INFLUXDB + "2": Lifecycle("Welcome to InfluxDB", "Stopping subsystem"),
    # pkg/server/server.go, both
    GRAFANA: Lifecycle("Starting Grafana", "Shutdown started"),
}


class ImageError(PolysourceError):
    """An image that does not exist for the target platform."""


@dataclass(frozen=True)
class ImageChoice:
    image: str
    platforms: tuple[str, ...]
    evidence: str


ALL = ("linux/amd64", "linux/arm64", "linux/arm/v7")
BIT64 = ("linux/amd64", "linux/arm64")

# (service, variant) -> candidates in order of preference; the first that exists for the platform wins.
IMAGES: dict[tuple[str, str], tuple[ImageChoice, ...]] = {
    ("telegraf", ""): (
        ImageChoice(
            "telegraf:1.39.3",
            ALL,
            "docker-library/official-images library/telegraf @37079fb: 1.39 Debian tags list amd64, "
            "arm32v7, arm64v8 (the -alpine variant has no arm32v7)",
        ),
    ),
    ("influxdb", "1"): (
        ImageChoice(
            "influxdb:1.8.10",
            ALL,
            "official-images library/influxdb, last revision with 1.8: arm32v7 listed; 1.8 is the last "
            "InfluxDB with 32-bit ARM images",
        ),
    ),
    ("influxdb", "2"): (
        ImageChoice(
            "influxdb:2.7.12",
            BIT64,
            "official-images library/influxdb @37079fb: 2.7 lists amd64 and arm64v8 only; `latest` is "
            "InfluxDB 3 now, so never float",
        ),
    ),
    ("grafana", ""): (
        ImageChoice(
            "grafana/grafana:11.6.0",
            ALL,
            "arm/v7 images paused after 10.1.2 (grafana/grafana#76629) and came back in December 2023 "
            "(grafana-build#242, grafana/grafana#79751, confirmed in #84994); not pulled here",
        ),
    ),
    ("mosquitto", ""): (
        ImageChoice(
            "eclipse-mosquitto:2.0.21",
            ALL,
            "official-images library/eclipse-mosquitto: amd64, arm32v6, arm64v8, ...; no arm32v7 entry, "
            "but Docker runs an arm/v6 image on an arm/v7 host (moby's platform matcher); 2.0.21 is "
            "the release the tests build and run (Debian's source archive)",
        ),
    ),
}

WHY_NOT: dict[tuple[str, str], str] = {
    ("influxdb", "2"): "InfluxDB 2 images exist for amd64 and arm64 only: use storage.influxdb."
    "version 1 (influxdb:1.8, InfluxQL) on 32-bit Pi OS, or install 64-bit Pi OS",
}


def check_platform(service: str, platform: str, influxdb_version: int = 1) -> str:
    """The pinned image for service on platform; ImageError when there is none."""
    variant = str(influxdb_version) if service == "influxdb" else ""
    for choice in IMAGES[(service, variant)]:
        if platform in choice.platforms:
            return choice.image
    reason = WHY_NOT.get((service, variant), f"no pinned {service} image for {platform}")
    raise ImageError(f"{reason} (platform {platform})")
