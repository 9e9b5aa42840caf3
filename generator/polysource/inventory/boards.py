"""Board presets: each board's modem wiring and power-up, as its vendor's own example code does it.

A preset is data only: the pins the ESP32 drives, at which level and for how long, and where the
numbers come from. The inventory names a board (`devices.X.board`), may override pins, and the
rules check the result against the chip (flash pins, input-only pins, a pin used twice).
"""

from dataclasses import dataclass, replace
from typing import Literal

Chip = Literal["esp32", "esp32s3"]

# ESP32 (classic): GPIO 6-11 drive the module's SPI flash; 34-39 are inputs only (no output driver).
# ESP32-S3: GPIO 26-32 drive the flash (and 33-37 the octal PSRAM on modules that have it); every
# GPIO can drive an output. Both: GPIO 0-48 at most.
FLASH_PINS: dict[Chip, frozenset[int]] = {
    "esp32": frozenset(range(6, 12)),
    "esp32s3": frozenset(range(26, 33)),
}
INPUT_ONLY_PINS: dict[Chip, frozenset[int]] = {"esp32": frozenset(range(34, 40)), "esp32s3": frozenset()}
HIGHEST_PIN: dict[Chip, int] = {"esp32": 39, "esp32s3": 48}


OUTPUT_ROLES = ("tx", "pwrkey", "power_enable", "flight", "reset", "dtr")  # pins the ESP32 drives
WIRING_ROLES = ("rx", "baud", *OUTPUT_ROLES)  # what `pins:` may override


@dataclass(frozen=True)
class Wiring:
    """The modem's UART and control pins; None: the board has no such pin (or it is not driven)."""

    rx: int  # the ESP32's RX (the modem's TX)
    tx: int
    baud: int
    pwrkey: int | None = None
    power_enable: int | None = None  # driven HIGH for the modem's supply (T-A7670: IO12)
    flight: int | None = None  # driven HIGH to leave flight mode (T-SIM7600: IO25)
    reset: int | None = None  # held at its idle level (T-Call SIM800: IO5 HIGH)
    dtr: int | None = None  # held LOW: the modem stays awake

    def outputs(self) -> dict[str, int]:
        """Pins the ESP32 drives, by role."""
        return {role: pin for role in OUTPUT_ROLES if (pin := getattr(self, role)) is not None}

    def used(self) -> dict[str, int]:
        return {"rx": self.rx} | self.outputs()


@dataclass(frozen=True)
class Board:
    """One board: its chip, modem family, wiring and power-up sequence, with their source."""

    name: str
    title: str
    chip: Chip
    modem: str | None  # the soldered modem family; None: any (an external modem, or WiFi)
    wiring: Wiring
    pwrkey_level: int  # the level that presses PWRKEY (through the board's transistor, if any)
    pwrkey_ms: int  # how long it is pressed; 0: held pressed (T-Call SIM800)
    reset_level: int  # the level that resets the modem; the pin idles at the other
    boot_s: int  # how long the modem may take to answer AT after PWRKEY (bounded wait)
    pmu: Literal["axp2101"] | None
    source: str


BOARDS: dict[str, Board] = {
    b.name: b
    for b in (
        Board(
            "lilygo-t-sim7600",
            "LilyGO T-SIM7600X (ESP32 + SIM7600)",
            "esp32",
            "sim7600",
            Wiring(rx=26, tx=27, baud=115200, pwrkey=4, flight=25, dtr=32),
            pwrkey_level=1,
            pwrkey_ms=300,
            reset_level=0,
            boot_s=30,  # SIM7600 hardware design: UART ready about 12 s after PWRKEY
            pmu=None,
            source="Xinyuan-LilyGO/T-SIM7600X examples/MqttClient/MqttClient.ino: MODEM_RX 26, MODEM_TX 27, "
            "MODEM_PWRKEY 4 HIGH 300 ms then LOW, MODEM_FLIGHT 25 HIGH, MODEM_DTR 32",
        ),
        Board(
            "lilygo-t-sim7000g",
            "LilyGO T-SIM7000G (ESP32 + SIM7000G)",
            "esp32",
            "sim7000",
            Wiring(rx=26, tx=27, baud=9600, pwrkey=4, dtr=25),
            pwrkey_level=0,
            pwrkey_ms=1000,
            reset_level=0,
            boot_s=60,
            pmu=None,
            source="Xinyuan-LilyGO/LilyGO-T-SIM7000G examples/Arduino_NetworkTest: PIN_RX 26, PIN_TX 27, "
            "UART_BAUD 9600, PWR_PIN 4 LOW 1 s then HIGH (datasheet Ton 1 s), PIN_DTR 25; 60 s for AT",
        ),
        Board(
            "lilygo-t-a7670",
            "LilyGO T-A7670 (ESP32 + A7670)",
            "esp32",
            "a7672x",
            Wiring(rx=27, tx=26, baud=115200, pwrkey=4, power_enable=12, reset=5, dtr=25),
            pwrkey_level=1,
            pwrkey_ms=100,
            reset_level=1,
            boot_s=30,
            pmu=None,
            source="Xinyuan-LilyGO/LilyGO-T-A76XX examples/Network/utilities.h (LILYGO_T_A7670): "
            "MODEM_RX_PIN 27, MODEM_TX_PIN 26, BOARD_POWERON_PIN 12 HIGH, BOARD_PWRKEY_PIN 4 "
            "LOW/HIGH 100 ms/LOW, MODEM_RESET_PIN 5 (reset level HIGH), MODEM_DTR_PIN 25 LOW",
        ),
        Board(
            "lilygo-t-call-sim800",
            "LilyGO T-Call SIM800L (ESP32 + SIM800L, IP5306)",
            "esp32",
            "sim800",
            Wiring(rx=26, tx=27, baud=115200, pwrkey=4, power_enable=23, reset=5),
            pwrkey_level=0,
            pwrkey_ms=0,
            reset_level=0,
            boot_s=10,
            pmu=None,
            source="Xinyuan-LilyGO/LilyGo-T-Call-SIM800 examples/Arduino_TinyGSM: UART rx 26, tx 27, "
            "pin 4 (PWRKEY) LOW, pin 5 (RST) HIGH, pin 23 (POWER_ON) HIGH, 3 s before AT",
        ),
        Board(
            "lilygo-t-sim7080g",
            "LilyGO T-SIM7080G-S3 (ESP32-S3 + SIM7080G, AXP2101)",
            "esp32s3",
            "sim7080",
            Wiring(rx=4, tx=5, baud=115200, pwrkey=41, dtr=42),
            pwrkey_level=1,
            pwrkey_ms=1000,
            reset_level=0,
            boot_s=30,
            pmu="axp2101",
            source="Xinyuan-LilyGO/LilyGo-T-SIM7080G examples/ModemMqttPublishExample/utilities.h: "
            "BOARD_MODEM_RXD_PIN 4, BOARD_MODEM_TXD_PIN 5, BOARD_MODEM_PWR_PIN 41 (LOW/HIGH 1 s/LOW), "
            "BOARD_MODEM_DTR_PIN 42; the modem's supply is the AXP2101's DC3 at 3000 mV, its UART "
            "level shifter BLDO1 at 3300 mV (I2C SDA 15, SCL 7)",
        ),
        Board(
            "esp32-generic",
            "an ESP32 DevKit with an external modem (or WiFi)",
            "esp32",
            None,
            Wiring(rx=16, tx=17, baud=115200),
            pwrkey_level=1,
            pwrkey_ms=1000,
            reset_level=0,
            boot_s=30,
            pmu=None,
            source="UART2's default pins on ESP32 DevKit boards (RX2 16, TX2 17); give the modem's "
            "PWRKEY and supply pins under pins:",
        ),
    )
}
GENERIC = "esp32-generic"
# I2C to the AXP2101 power manager (T-SIM7080G-S3), from the same vendor file.
PMU_I2C = (15, 7)


def with_overrides(board: Board, overrides: dict[str, int | None]) -> Wiring:
    """The board's wiring with the inventory's pins: in place (a number, or null for none)."""
    return replace(board.wiring, **overrides)  # type: ignore[arg-type]  # rules refuse a null rx/tx/baud


def pin_problems(board: Board, wiring: Wiring) -> dict[str, str]:
    """role -> why that pin cannot be used that way on this board's chip."""
    problems: dict[str, str] = {}
    chip = board.chip
    seen: dict[int, str] = {}
    if board.pmu:
        seen |= {PMU_I2C[0]: "the power manager's I2C SDA", PMU_I2C[1]: "the power manager's I2C SCL"}
    outputs = wiring.outputs()
    for role, pin in wiring.used().items():
        if pin > HIGHEST_PIN[chip]:
            problems[role] = f"GPIO {pin} does not exist on the {chip} (0-{HIGHEST_PIN[chip]})"
        elif pin in FLASH_PINS[chip]:
            problems[role] = f"GPIO {pin} drives the {chip}'s flash memory: using it crashes the board"
        elif role in outputs and pin in INPUT_ONLY_PINS[chip]:
            problems[role] = f"GPIO {pin} is input-only on the {chip}: it cannot drive the modem's {role}"
        elif pin in seen:
            problems[role] = f"GPIO {pin} is already the {seen[pin]}"
        seen.setdefault(pin, role)
    return problems
