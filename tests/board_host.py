"""The rendered sketch, built and run on this host with its real libraries: TinyGSM 0.12.0 and
ArduinoCore-API 1.5.2 from ../shared/vendor (never copied into the repository), Debian's mbedTLS,
and the ESP32 shims of tests/device/esp32. Its UART is a pty to the AT-command modem emulator
(tests/device/modem.py), whose sockets reach the real broker."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
from test_device import BOARD, render_board

from conftest import seed_inventory
from helpers import ROOT
from services import require

VENDOR = ROOT.parent / "shared" / "vendor"
TINYGSM = VENDOR / "tinygsm-0.12.0" / "src"
ARDUINO_API = VENDOR / "arduinocore-api-1.5.2"
SHIMS = ROOT / "tests" / "device" / "esp32"


def require_vendor() -> None:
    """The board's libraries are third-party source kept beside the project, not in it: a user's
    clone has no ../shared, and these tests skip there (CI has it)."""
    if not (TINYGSM / "TinyGsmClient.h").exists() or not (ARDUINO_API / "api" / "ArduinoAPI.h").exists():
        pytest.skip(
            f"the board's real libraries are not here: {VENDOR} (TinyGSM 0.12.0, ArduinoCore-API 1.5.2)"
        )
    require(
        shutil.which("g++") is not None and Path("/usr/include/mbedtls/ssl.h").exists(), "g++, libmbedtls-dev"
    )


def _flags() -> list[str]:
    api = ARDUINO_API / "api"
    return [
        "-O1", "-g", "-std=gnu++17", "-DARDUINO=10819", f"-I{SHIMS}",
        "-isystem", str(ARDUINO_API), "-isystem", str(api / "deprecated"), "-isystem", str(TINYGSM),
    ]  # fmt: skip


def build_core(folder: Path) -> list[Path]:
    """ArduinoCore-API and the ESP32 shims, compiled once for every board of a test session."""
    objects = []
    for source in ("arduino_api.cpp", "esp32_host.cpp", "host_main.cpp"):
        target = folder / (source + ".o")
        if not target.exists():
            subprocess.run(["g++", "-c", *_flags(), "-o", str(target), str(SHIMS / source)], check=True,
                           capture_output=True, text=True)  # fmt: skip
        objects.append(target)
    return objects


def build_sketch(board: Path, core: list[Path], *defines: str, link: bool = True) -> Path:
    """The board folder polysource rendered (sketch, polysource_*.c, config, secrets.h), as the
    Arduino IDE would build it, -Wall -Wextra -Werror on polysource's own files."""
    sketch = next(board.glob("*.ino"))
    build = board / "host-build"
    build.mkdir(exist_ok=True)
    warnings = ["-Wall", "-Wextra", "-Werror"]
    steps = [
        ["g++", "-c", *_flags(), *warnings, *defines, f"-I{board}", "-x", "c++", str(sketch),
         "-o", str(build / "sketch.o")],
        ["gcc", "-c", "-O1", "-g", "-std=c99", "-pedantic", *warnings, *defines, f"-I{board}",
         str(board / "polysource_field.c"), "-o", str(build / "field.o")],
        ["gcc", "-c", "-O1", "-g", "-std=c99", "-pedantic", *warnings, *defines, f"-I{board}",
         str(board / "polysource_link.c"), "-o", str(build / "link.o")],
    ]  # fmt: skip
    for step in steps:
        result = subprocess.run(step, capture_output=True, text=True)
        assert result.returncode == 0, result.stderr
    binary = build / "board"
    if not link:  # compiled only: a stand-in without definitions is among the headers
        return binary
    subprocess.run(
        ["g++", "-o", str(binary), *map(str, core), str(build / "sketch.o"), str(build / "field.o"),
         str(build / "link.o"), "-lmbedtls", "-lmbedx509", "-lmbedcrypto", "-lpthread", "-lm"],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    return binary


class HostBoard:
    """A running board: its serial monitor in `out`, its RTC memory and pins in files."""

    def __init__(self, binary: Path, tty: str, folder: Path, scale: float, uptime_ms: int = 0):
        self.folder = folder
        self.scale = scale
        self.pins = folder / "pins.log"
        self.rtc = folder / "rtc.bin"
        self.watchdog = folder / "watchdog.log"
        self.log = folder / "serial.log"
        self.nvs = folder / "nvs.bin"
        env = {
            **os.environ,
            "PS_MODEM_TTY": tty,
            "PS_TIME_SCALE": str(scale),
            "PS_UPTIME_MS": str(uptime_ms),
            "PS_RTC_FILE": str(self.rtc),
            "PS_PINS_LOG": str(self.pins),
            "PS_WDT_LOG": str(self.watchdog),
            "PS_NVS_FILE": str(self.nvs),
        }
        self.serial = open(self.log, "a")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen([str(binary)], env=env, stdout=self.serial, stderr=subprocess.STDOUT)

    @property
    def out(self) -> str:
        return self.log.read_text(errors="replace")

    def press_reset(self) -> None:
        """The EN button, or a watchdog: RAM lost, RTC memory kept, the modem left as it was."""
        self.process.send_signal(signal.SIGUSR1)

    def power_cut(self) -> None:
        """The ESP32 loses its supply (a brown-out): RAM and RTC memory gone, flash (NVS) kept."""
        self.process.kill()
        self.process.wait()
        self.rtc.unlink(missing_ok=True)

    def flash_writes(self) -> int:
        writes = self.nvs.with_name(self.nvs.name + ".writes")
        return len(writes.read_text().splitlines()) if writes.exists() else 0

    def longest_unfed_ms(self) -> int:
        return int(self.watchdog.read_text()) if self.watchdog.exists() else 0

    def stop(self) -> str:
        if self.serial.closed:
            return self.out
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.serial.close()
        return self.out


def field_sleep(seconds: float, scale: float) -> None:
    """Wait `seconds` of the board's field time."""
    time.sleep(seconds / scale)


def board_inventory(mosquitto, interval_s: int, board: str = "lilygo-t-sim7600") -> str:
    """The seed's inventory with its board (a LilyGO T-SIM7600), readings stamped by the board."""
    text = seed_inventory(mosquitto).replace(
        "format: {value: valeur, sensor: idCapteur, unit: unite}",
        "format: {value: valeur, sensor: idCapteur, unit: unite, time: horodatage}",
    )
    device = f"""\
devices:
  esp32-test:
    stream: capteurs
    sensors: [Test_4G]
    username: {BOARD["user"]}
    password: ${{BOARD_PASSWORD}}
    board: {board}
    apn: ${{SIM_APN}}
    interval: {interval_s}s
"""
    return text.replace("unit: m, min: 0", f"unit: m, decimals: 3, min: 0, interval: {interval_s}s") + device


def render_for_host(folder: Path, text: str, ca: Path, password: str = BOARD["password"]) -> Path:
    """Render the inventory (as test_device does); secrets.h with the modem's keys too, as a user fills it."""
    board = render_board(folder, text, ca, password)
    password = password.replace("\\", "\\\\").replace('"', '\\"')
    secrets = {"PASSWORD": password, "APN": "internet", "APN_USER": "", "APN_PASSWORD": "", "SIM_PIN": ""}
    (board / "secrets.h").write_text("".join(f'#define PS_SECRET_{k} "{v}"\n' for k, v in secrets.items()))
    return board


class PtyBridge:
    """A TCP port on loopback carried to a pty, byte for byte and at once: MicroPython's unix port
    cannot read a pty without blocking, but reads a socket so."""

    def __init__(self, tty: str):
        import socket
        import threading

        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.tty = tty
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        import select
        import tty as termios_tty

        try:
            conn, _ = self.server.accept()
        except OSError:
            return
        fd = os.open(self.tty, os.O_RDWR | os.O_NOCTTY)
        termios_tty.setraw(fd)
        try:
            while True:
                ready, _, _ = select.select([conn, fd], [], [], 0.5)
                if conn in ready:
                    data = conn.recv(4096)
                    if not data:
                        return
                    os.write(fd, data)
                if fd in ready:
                    conn.sendall(os.read(fd, 4096))
        except OSError:
            return
        finally:
            os.close(fd)
            conn.close()

    def stop(self) -> None:
        self.server.close()
