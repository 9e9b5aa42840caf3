"""Sensor units as people write them, mapped to Grafana's unit ids.

Every id below is listed in Grafana's units schema (grafana-foundation-sdk units.jsonschema.json);
a test checks that, so the table cannot drift into ids Grafana does not know.
"""

GRAFANA_UNITS: dict[str, str] = {
    "%": "percent",
    "%RH": "humidity",
    "A": "amp",
    "bar": "pressurebar",
    "dB": "dB",
    "hPa": "pressurehpa",
    "Hz": "hertz",
    "J": "joule",
    "K": "kelvin",
    "kg": "masskg",
    "km": "lengthkm",
    "km/h": "velocitykmh",
    "kPa": "pressurekpa",
    "kW": "kwatt",
    "kWh": "kwatth",
    "L": "litre",
    "lux": "lux",
    "m": "lengthm",
    "m/s": "velocityms",
    "m3": "m3",
    "mA": "mamp",
    "mm": "lengthmm",
    "mV": "mvolt",
    "ppm": "ppm",
    "s": "s",
    "V": "volt",
    "W": "watt",
    "°": "degree",
    "°C": "celsius",
    "°F": "fahrenheit",
    "mg/m3": "conmgm3",
    "µg/m3": "conμgm3",
    "ppb": "conppb",
    "none": "none",
}
"""Inventory unit -> Grafana unit id."""

ALIASES: dict[str, str] = {
    "C": "°C",
    "degC": "°C",
    "F": "°F",
    "degF": "°F",
    "l": "L",
    "RH": "%RH",
    "ug/m3": "µg/m3",
    "μg/m3": "µg/m3",
}


def grafana_unit(unit: str) -> str | None:
    """Grafana's id for a unit, or None when polysource does not know it."""
    return GRAFANA_UNITS.get(ALIASES.get(unit, unit))
