"""A board in the field: the generated firmware's field loop, run on this host in the conditions a
board meets (a clock at 2000, coverage that comes and goes, a broker that restarts, a modem that
stops answering, a refused password), its readings followed into InfluxDB through the real Telegraf.

C: polysource_field.c and polysource_link.c compiled with the board's polysource_config.h, driven
by tests/device/posix_board.c (POSIX hands, a modem simulated from a state file). MicroPython: the
board's main.py, polysource_field.py and polysource_link.py under the real MicroPython, with
stand-in `machine` and `network` modules (tests/device/micropython). The clock is libfaketime's,
started at 2000-01-01; setting the board's clock rewrites its file, as settimeofday() or
machine.RTC() move an ESP32's. Time is scaled: a 1 s reading interval stands for the seed's 60 s,
backoffs are scaled alike (-D overrides, or the module's constants).
"""

import os
import shutil
import socket
import struct
import subprocess
import threading
import time
from pathlib import Path

import pytest
from test_device import BOARD, DEVICE, HERE, board_broker, compile_board, render_board

from conftest import seed_inventory
from services import SniFront, require, wait_for

FAKETIME = next(iter(sorted(Path("/usr/lib").glob("*/faketime/libfaketime.so.1"))), Path("/nonexistent"))
YEAR_2000 = 946684800
SCALE = ["-DPS_BACKOFF_MIN_MS=500UL", "-DPS_BACKOFF_MAX_MS=2000UL", "-DPS_BACKOFF_PERMANENT_MS=8000UL"]
# The seed's board on its real hardware (a LilyGO T-SIM7600), reading every second.
FIELD_DEVICE = DEVICE.replace(
    "    modem: wifi\n", "    board: lilygo-t-sim7600\n    apn: ${SIM_APN}\n    interval: 1s\n"
)


@pytest.fixture
def broker(tmp_path_factory, certs):
    # Telegraf's session outlives a broker restart, as on HiveMQ Cloud.
    broker = board_broker(tmp_path_factory.mktemp("field-broker"), certs, persistence=True)
    yield broker
    broker.stop()


def field_inventory(mosquitto, board: str = "lilygo-t-sim7600") -> str:
    text = seed_inventory(mosquitto)
    text = text.replace(
        "format: {value: valeur, sensor: idCapteur, unit: unite}",
        "format: {value: valeur, sensor: idCapteur, unit: unite, time: horodatage}",
    ).replace("unit: m, min: 0", "unit: m, decimals: 1, min: 0, interval: 1s")
    return text + FIELD_DEVICE.replace("lilygo-t-sim7600", board)  # one board, both firmwares


class Sntp:
    """An SNTP server on loopback answering the real time, as pool.ntp.org would."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.asked = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                data, peer = self.sock.recvfrom(64)
            except OSError:
                return
            self.asked += 1
            now = time.time() + 2208988800
            answer = bytearray(48)
            answer[0] = 0x24  # LI 0, version 4, mode 4 (server)
            answer[1] = 2
            answer[40:48] = struct.pack("!II", int(now), int((now % 1) * 2**32))
            self.sock.sendto(bytes(answer), peer)

    def stop(self):
        self.sock.close()


class FieldRun:
    """One board run: its state folder (the simulated modem's coverage), clock file and output."""

    def __init__(
        self, folder: Path, board: Path, language: str, front: SniFront, sntp: Sntp, year_2000: bool
    ):
        require(FAKETIME.exists(), "libfaketime (Debian's faketime)")
        self.state = folder / "state"
        self.state.mkdir(exist_ok=True)
        self.coverage("up")
        self.clock = folder / "faketime.rc"
        self.clock.write_text(f"{YEAR_2000 - int(time.time()):+d}\n" if year_2000 else "+0\n")
        self.board, self.language, self.front, self.sntp = board, language, front, sntp
        self.env = {
            **os.environ,
            "LD_PRELOAD": str(FAKETIME),
            "FAKETIME_TIMESTAMP_FILE": str(self.clock),
            "FAKETIME_NO_CACHE": "1",
            "FAKETIME_DONT_FAKE_MONOTONIC": "1",
            "PS_TEST_STATE": str(self.state),
            "PS_TEST_REAL_TIME": str(int(time.time())),
            "PS_TEST_PORT": str(front.port),
        }
        self.process: subprocess.Popen | None = None
        self.password = BOARD["password"]

    def coverage(self, value: str) -> None:
        (self.state / "coverage").write_text(value + "\n")

    def start(self, seconds: int) -> None:
        password = self.password
        # The front's certificate is valid from the second it was made; a board's clock set to
        # the second may be just behind it. A real broker's certificate is not minutes old.
        time.sleep(max(0.0, self.front.created + 2 - time.time()))
        if self.language == "c":
            binary = compile_board(self.board, *SCALE)
            command = [str(binary), "127.0.0.1", str(seconds), "seq"]
            cwd = self.board
        else:
            micropython = shutil.which("micropython")
            require(micropython is not None, "micropython")
            folder = self.board / "micropython"
            for name in ("machine.py", "network.py", "field_run.py"):
                shutil.copy(HERE / "micropython" / name, folder / name)
            (folder / "secrets.py").write_text(
                f"PASSWORD = {password!r}\nAPN = 'internet'\nSIM_PIN = ''\n"
                "WIFI_SSID = 'lab'\nWIFI_PASSWORD = 'x'\n"
            )
            self.env["PS_TEST_NTP_PORT"] = str(self.sntp.port)
            command = [micropython, "field_run.py", str(seconds)]
            cwd = folder
        self.process = subprocess.Popen(
            command, cwd=cwd, env=self.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )

    def finish(self, timeout: float) -> str:
        assert self.process is not None
        out, _ = self.process.communicate(timeout=timeout)
        assert self.process.returncode == 0, out
        return out


@pytest.fixture
def field(tmp_path, broker, certs, influxdb, make_pipeline):
    """A factory: render the field inventory, start Telegraf on the broker, a front for the board."""
    fronts, sntps = [], []

    def make(
        language: str,
        year_2000: bool = True,
        password: str = BOARD["password"],
        board: str = "lilygo-t-sim7600",
    ) -> FieldRun:
        text = field_inventory(broker, board)
        telegraf = make_pipeline(text=text)
        telegraf.broker = broker
        telegraf.start()
        front = SniFront(certs, broker.plain_port)
        sntp = Sntp()
        fronts.append(front)
        sntps.append(sntp)
        folder = tmp_path / "board"
        folder.mkdir()
        board = render_board(folder, text, certs.ca, password)
        run = FieldRun(folder, board, language, front, sntp, year_2000)
        run.password = password
        return run

    yield make
    for front in fronts:
        front.stop()
    for sntp in sntps:
        sntp.stop()


def readings(influxdb) -> list[tuple[float, float]]:
    """(value, Unix seconds) of every stored reading, in time order."""
    rows = influxdb.query('SELECT "valeur" FROM "capteurs"', "polysource")
    return [(row["valeur"], row["time"]) for row in rows]


def stored(influxdb, count: int) -> list[tuple[float, float]]:
    wait_for(lambda: len(readings(influxdb)) >= count, 30, f"{count} readings in InfluxDB")
    return readings(influxdb)


LANGUAGES = ["c", "micropython"]


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_board_booting_at_2000_sets_its_clock_then_every_reading_lands_at_its_time(
    field, influxdb, language
):
    run = field(language)
    started = time.time()
    run.start(6)
    out = run.finish(60)
    assert "clock set from the network" in out, out
    assert "connected to localhost" in out, out
    rows = stored(influxdb, 5)
    for _, at in rows:
        assert started - 5 < at < time.time() + 5, f"a reading stored at {at}, not now: {out}"
    values = [value for value, _ in rows]
    assert values == sorted(values) and values[0] == 1.0, rows


@pytest.mark.parametrize("days", [6.3, 25, 50])
def test_micropython_stamps_readings_right_days_after_its_clock_was_set(field, influxdb, days):
    """The ESP32 port's tick counter wraps every 12.4 days: a tick difference is wrong past 6.2."""
    run = field("micropython", year_2000=False)
    run.env["PS_TEST_CLOCK_SET_DAYS_AGO"] = str(days)
    started = time.time()
    run.start(5)
    out = run.finish(60)
    for _, at in stored(influxdb, 3):
        assert started - 5 < at < time.time() + 5, (
            f"a reading stamped {(at - time.time()) / 86400:.1f} days off: {out}"
        )


@pytest.mark.parametrize("language", LANGUAGES)
def test_coverage_lost_for_a_while_loses_no_reading_and_each_lands_at_its_own_time(field, influxdb, language):
    run = field(language)
    run.start(24)
    time.sleep(5)
    run.coverage("down")
    run.front.cut()
    time.sleep(8)  # eight readings taken with no network (eight minutes at the seed's interval)
    run.front.restore()
    run.coverage("up")
    out = run.finish(60)
    assert "no mobile network registration" in out, out
    assert "queued 0" in out, out
    presses = [line for line in out.splitlines() if line.startswith("pin 4 1")]
    assert len(presses) == 1, f"the modem was power-cycled for a lost network: {presses}"
    if language == "micropython":
        assert "ppp objects 1" in out, "one PPP object for the board's life"
    last = max(
        float(line.split('"valeur": ')[1].split(",")[0]) for line in out.splitlines() if '"valeur": ' in line
    )
    rows = stored(influxdb, int(last))
    values = sorted({value for value, _ in rows})
    assert values == [float(n) for n in range(1, int(last) + 1)], f"readings lost: {values}"
    times = sorted({at for _, at in rows})
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    assert max(gaps) < 2.5, f"readings bunched at the reconnection instead of their own time: {gaps}"


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_broker_restart_loses_no_reading(field, broker, influxdb, language):
    run = field(language, year_2000=False)
    run.start(20)
    time.sleep(5)
    broker.stop()
    time.sleep(4)
    broker.start()
    out = run.finish(60)
    last = max(
        float(line.split('"valeur": ')[1].split(",")[0]) for line in out.splitlines() if '"valeur": ' in line
    )
    wait_for(lambda: {v for v, _ in readings(influxdb)} >= {float(n) for n in range(6, int(last) + 1)}, 30,
             "the readings queued while the broker was down")  # fmt: skip


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_modem_that_stops_answering_is_power_cycled_once_and_the_board_recovers(field, influxdb, language):
    run = field(language, year_2000=False)
    run.start(20)
    time.sleep(5)
    run.coverage("silent")
    run.front.cut()
    time.sleep(2)
    run.front.restore()
    out = run.finish(60)
    assert "the modem does not answer AT" in out, out
    presses = [line for line in out.splitlines() if line.startswith("pin 4 1")]
    assert len(presses) == 2, f"PWRKEY pressed at boot and once more, not on every check: {out}"
    assert out.count("connected to localhost") >= 2, out
    assert "queued 0" in out, out


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_refused_password_backs_off_to_minutes(field, language):
    run = field(language, year_2000=False, password="not the password")
    run.start(30)
    out = run.finish(60)
    assert "not authorized" in out, out
    # 8 s stands for 15 min: at most one attempt per 7 s, and not one every few seconds.
    assert run.front.accepted <= 5, f"{run.front.accepted} connections in 30 s: {out}"
    assert run.front.accepted >= 2, out


# The vendor's power-up, transcribed from Xinyuan-LilyGO/T-SIM7600X examples/MqttClient/MqttClient.ino
# (independently of polysource's preset table): PWRKEY (IO4) HIGH for 300 ms then LOW, flight mode
# pin (IO25) HIGH. polysource also holds DTR (IO32) LOW, as LilyGO's A76XX examples do.
VENDOR_T_SIM7600 = [(25, 1), (32, 0), (4, 0), (4, 1), (4, 0)]


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_t_sim7600_is_powered_up_as_the_vendor_does(field, language):
    run = field(language, year_2000=False)
    run.start(2)
    out = run.finish(30)
    pins = [line.split() for line in out.splitlines() if line.startswith("pin ")]
    assert [(int(p[1]), int(p[2])) for p in pins] == VENDOR_T_SIM7600, out
    pressed = int(pins[4][4]) - int(pins[3][4])
    assert 290 <= pressed <= 400, f"PWRKEY held {pressed} ms (vendor: 300 ms)"


# The vendors' power-ups, transcribed from their current example code (independently of polysource's
# preset table): (pin, level) in order, and the pulses' widths (ms) as (pin, first index, last index).
VENDOR_POWER_UPS = {
    # Xinyuan-LilyGO/LilyGO-T-A76XX@7d8ce57 examples/MqttClient/MqttClient.ino, LILYGO_T_A7670:
    # BOARD_POWERON_PIN 12 HIGH; MODEM_RESET_PIN 5 LOW, 100 ms, HIGH, 2600 ms, LOW; DTR 25 LOW;
    # PWRKEY 4 LOW, 100 ms, HIGH, 100 ms, LOW.
    "lilygo-t-a7670": (
        [(12, 1), (5, 0), (5, 1), (5, 0), (25, 0), (4, 0), (4, 1), (4, 0)],
        [(5, 2, 3, 2600), (4, 6, 7, 100)],
    ),
    # Xinyuan-LilyGO/LilyGo-T-Call-SIM800@11db8bf examples/Arduino_TinyGSM (SIM800L_IP5306_VERSION_
    # 20200811): MODEM_POWER_ON 23 HIGH, MODEM_RST 5 HIGH; MODEM_PWRKEY 4 HIGH, 100 ms, LOW, 1000 ms,
    # HIGH; MODEM_DTR 32 LOW.
    "lilygo-t-call-sim800": (
        [(23, 1), (5, 1), (32, 0), (4, 1), (4, 0), (4, 1)],
        [(4, 4, 5, 1000)],
    ),
}


@pytest.mark.parametrize("board", sorted(VENDOR_POWER_UPS))
@pytest.mark.parametrize("language", LANGUAGES)
def test_the_modem_is_powered_up_as_its_vendor_does(field, language, board):
    run = field(language, year_2000=False, board=board)
    run.start(6)
    out = run.finish(30)
    pins = [line.split() for line in out.splitlines() if line.startswith("pin ")]
    sequence, pulses = VENDOR_POWER_UPS[board]
    assert [(int(p[1]), int(p[2])) for p in pins][: len(sequence)] == sequence, out
    for pin, first, last, width in pulses:
        held = int(pins[last][4]) - int(pins[first][4])
        assert width - 10 <= held <= width + 150, f"GPIO {pin} held {held} ms (vendor: {width} ms)"


QUEUE_AND_BACKOFF = r"""
#include <stdio.h>
#include <string.h>
#include "polysource_field.h"
int main(void) {
    static ps_queue q;
    unsigned long r;
    for (int i = 1; i <= 6; i++) {
        ps_reading reading;
        memset(&reading, 0, sizeof reading);
        reading.value = (double)i;
        ps_queue_push(&q, reading);
    }
    printf("queue %u %lu %g\n", (unsigned)q.count, q.dropped, ps_queue_peek(&q)->value);
    for (unsigned failures = 1; failures <= 12; failures++) {
        unsigned long low = ~0UL, high = 0;
        for (r = 0; r < 2000; r += 7) {
            unsigned long wait = ps_backoff_ms(failures, 0, r * 2654435761UL);
            low = wait < low ? wait : low;
            high = wait > high ? wait : high;
        }
        printf("backoff %u %lu %lu\n", failures, low, high);
    }
    printf("permanent %lu\n", ps_backoff_ms(1, 1, 12345));
    return 0;
}
"""


def test_the_queue_drops_its_oldest_readings_and_the_backoff_is_capped_with_jitter(tmp_path):
    """polysource_field's pure parts, compiled alone: a full queue drops (and counts) its oldest
    readings; backoff doubles from 5 s to a 5 min cap with jitter, and minutes after a refusal."""
    require(shutil.which("gcc") is not None, "gcc")
    source = tmp_path / "check.c"
    source.write_text(QUEUE_AND_BACKOFF)
    binary = tmp_path / "check"
    templates = HERE.parent.parent / "templates" / "device"
    subprocess.run(
        ["gcc", "-std=c99", "-Wall", "-Wextra", "-Werror", "-DPS_QUEUE_LEN=4", f"-I{templates}", str(source),
         str(templates / "polysource_field.c"), str(templates / "polysource_link.c"),
         "-lmbedtls", "-lmbedx509", "-lmbedcrypto", "-lm", "-o", str(binary)],
        check=True,
    )  # fmt: skip
    out = subprocess.run([str(binary)], capture_output=True, text=True, check=True).stdout.splitlines()
    assert out[0] == "queue 4 2 3", "four kept, the two oldest dropped and counted"
    spans = {int(f): (int(lo), int(hi)) for _, f, lo, hi in (line.split() for line in out[1:13])}
    for failures, (low, high) in [(1, (3750, 5000)), (2, (7500, 10000)), (12, (225000, 300000))]:
        seen = spans[failures]
        assert low <= seen[0] < low * 1.05 and high * 0.95 < seen[1] <= high, (failures, seen)
    assert 787500 <= int(out[13].split()[1]) <= 900000, "a refused password waits minutes"
