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
    pmu: Literal["axp2101", "ip5306"] | None
    source: str  # the vendor's file, at a named commit, each number's origin
    reset_ms: int = 0  # a reset pulse at power-up this long (T-A7670: 2.6 s); 0: held idle
    battery: bool = False  # runs on a battery (a holder, a charger or a battery ADC pin in the vendor's
    # files): the board keeps its readings in flash too, since a brown-out loses RTC memory

    @property
    def pmu_pins(self) -> tuple[int, int] | None:
        """The power manager's I2C (SDA, SCL), if the board has one."""
        return PMU_I2C[self.pmu] if self.pmu else None


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
            battery=True,
            pmu=None,
            source="Xinyuan-LilyGO/T-SIM7600X@14715b2 examples/MqttClient/MqttClient.ino: MODEM_RX 26, "
            "MODEM_TX 27, MODEM_PWRKEY 4 HIGH 300 ms then LOW, MODEM_FLIGHT 25 HIGH, MODEM_DTR 32 "
            "(LilyGO-T-A76XX@7d8ce57's LILYGO_SIM7600X presses 500 ms: both inside SIMCom's pulse)",
        ),
        Board(
            "lilygo-t-sim7000g",
            "LilyGO T-SIM7000G (ESP32 + SIM7000G)",
            "esp32",
            "sim7000",
            Wiring(rx=26, tx=27, baud=115200, pwrkey=4, dtr=25),
            pwrkey_level=1,
            pwrkey_ms=1000,
            reset_level=0,
            boot_s=60,
            battery=True,
            pmu=None,
            source="Xinyuan-LilyGO/LilyGO-T-A76XX@7d8ce57 examples/MqttClient (LILYGO_SIM7000G): MODEM_RX "
            "26, MODEM_TX 27, 115200 baud, PWRKEY 4 LOW/HIGH 1000 ms/LOW, DTR 25 LOW; as "
            "LilyGO-T-SIM7000G@3e506bd examples/MqttClient and AllFunctions (PWR_PIN 4 HIGH 1 s then LOW). "
            "Its Arduino_NetworkTest presses LOW 1 s at 9600 baud instead: two examples and the newest "
            "code against one",
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
            reset_ms=2600,
            boot_s=30,
            battery=True,
            pmu=None,
            source="Xinyuan-LilyGO/LilyGO-T-A76XX@7d8ce57 examples/MqttClient/MqttClient.ino and "
            "utilities.h (LILYGO_T_A7670): MODEM_RX_PIN 27, MODEM_TX_PIN 26, BOARD_POWERON_PIN 12 HIGH, "
            "MODEM_RESET_PIN 5 "
            "LOW 100 ms/HIGH 2600 ms/LOW (MODEM_RESET_LEVEL HIGH), MODEM_DTR_PIN 25 LOW, BOARD_PWRKEY_PIN 4 "
            "LOW 100 ms/HIGH 100 ms/LOW",
        ),
        Board(
            "lilygo-t-call-sim800",
            "LilyGO T-Call SIM800L (ESP32 + SIM800L, IP5306)",
            "esp32",
            "sim800",
            Wiring(rx=26, tx=27, baud=115200, pwrkey=4, power_enable=23, reset=5, dtr=32),
            pwrkey_level=0,
            pwrkey_ms=1000,
            reset_level=0,
            boot_s=10,
            battery=True,
            pmu="ip5306",
            source="Xinyuan-LilyGO/LilyGo-T-Call-SIM800@11db8bf examples/Arduino_TinyGSM "
            "(SIM800L_IP5306_VERSION_20200811): MODEM_RX 26, MODEM_TX 27, MODEM_RST 5 HIGH, "
            "MODEM_POWER_ON 23 HIGH, MODEM_PWRKEY 4 HIGH 100 ms/LOW 1000 ms/HIGH, MODEM_DTR 32 LOW; the "
            "IP5306 (I2C 0x75, SDA 21, SCL 22) told to keep its boost on (SYS_CTL0 = 0x37), or on battery "
            "it switches the board off at light load",
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
            battery=True,
            pmu="axp2101",
            source="Xinyuan-LilyGO/LilyGo-T-SIM7080G@1f49d04 examples/ModemMqttPublishExample (.ino and "
            "utilities.h): BOARD_MODEM_RXD_PIN 4, BOARD_MODEM_TXD_PIN 5, BOARD_MODEM_PWR_PIN 41 (LOW/HIGH "
            "1 s/LOW), BOARD_MODEM_DTR_PIN 42; the modem's supply is the AXP2101's DC3 at 3000 mV, switched "
            "off for 200 ms first at a cold boot (not a wake from deep sleep); its UART level shifter BLDO1 "
            "at 3300 mV (examples/ATDebug); I2C SDA 15, SCL 7",
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
# I2C (SDA, SCL) to each power manager, from the same vendor files.
PMU_I2C = {"axp2101": (15, 7), "ip5306": (21, 22)}


def with_overrides(board: Board, overrides: dict[str, int | None]) -> Wiring:
    """The board's wiring with the inventory's pins: in place (a number, or null for none)."""
    return replace(board.wiring, **overrides)  # type: ignore[arg-type]  # rules refuse a null rx/tx/baud


def pin_problems(board: Board, wiring: Wiring) -> dict[str, str]:
    """role -> why that pin cannot be used that way on this board's chip."""
    problems: dict[str, str] = {}
    chip = board.chip
    seen: dict[int, str] = {}
    if board.pmu:
        sda, scl = PMU_I2C[board.pmu]
        seen |= {sda: "the power manager's I2C SDA", scl: "the power manager's I2C SCL"}
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
