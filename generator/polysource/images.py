"""Pinned images per service and platform, from the registries' published architecture lists.

Sources (see README, "Image table"): docker-library official-images `library/telegraf` and
`library/influxdb` (influxdb:1.8 is the last tag with arm32v7; 2.x was always amd64/arm64 only;
`latest` is InfluxDB 3 now, so never float), Grafana's armv7 pause after 10.1.2.
"""

from dataclasses import dataclass


class ImageError(ValueError):
    """An image that does not exist for the target platform."""


@dataclass(frozen=True)
class ImageChoice:
    image: str
    platforms: tuple[str, ...]


ALL = ("linux/amd64", "linux/arm64", "linux/arm/v7")
BIT64 = ("linux/amd64", "linux/arm64")

# (service, variant) -> candidates in order of preference; the first that exists for the platform wins.
IMAGES: dict[tuple[str, str], tuple[ImageChoice, ...]] = {
    ("telegraf", ""): (ImageChoice("telegraf:1.39.3", ALL),),
    ("influxdb", "1"): (ImageChoice("influxdb:1.8.10", ALL),),
    ("influxdb", "2"): (ImageChoice("influxdb:2.7.12", BIT64),),
    ("grafana", ""): (
        ImageChoice("grafana/grafana:11.6.0", BIT64),
        ImageChoice("grafana/grafana:10.1.2", ("linux/arm/v7",)),
    ),
    ("mosquitto", ""): (ImageChoice("eclipse-mosquitto:2.0.18", ALL),),
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
