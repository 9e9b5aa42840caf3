# Stand-in for MicroPython's `machine` on an ESP32, for polysource's tests under the unix port:
# pins are printed ("pin GPIO LEVEL at MS"), the RTC moves the process's clock (libfaketime's file,
# as machine.RTC().datetime() moves an ESP32's), the UART is a modem answering AT from the state
# folder's `coverage` file (see tests/device/posix_board.c), the watchdog ends a loop left unfed.
import os
import time

STATE = os.getenv("PS_TEST_STATE")


def coverage():
    if STATE is None:  # no simulated modem state: the network is there
        return "up"
    try:
        with open(STATE + "/coverage") as f:
            return f.read().strip()
    except OSError:
        return "up"


def set_coverage(value):
    with open(STATE + "/coverage", "w") as f:
        f.write(value + "\n")


class Pin:
    OUT = 1

    def __init__(self, gpio, mode=None):
        self.gpio = gpio

    def value(self, level):
        import polysource_config

        print("pin %d %d at %d" % (self.gpio, level, time.ticks_ms()))
        if self.gpio == polysource_config.POWER["pwrkey"] and coverage() == "silent":
            set_coverage("up")  # a hung modem comes back when its PWRKEY is pressed


class WDT:
    def __init__(self, timeout):
        self.timeout = timeout
        self.fed = time.ticks_ms()

    def feed(self):
        now = time.ticks_ms()
        if time.ticks_diff(now, self.fed) > self.timeout:
            raise SystemExit("watchdog: not fed for %d ms" % time.ticks_diff(now, self.fed))
        self.fed = now


class RTC:
    def datetime(self, when):
        year, month, day, weekday, hour, minute, second, _ = when
        wanted = time.mktime((year, month, day, hour, minute, second, 0, 0))
        path = os.getenv("FAKETIME_TIMESTAMP_FILE")
        if path is None:  # the host's own clock: already right
            return
        with open(path) as f:
            offset = int(f.read().strip())
        offset += int(wanted - time.time())
        with open(path, "w") as f:
            f.write("%+d\n" % offset)


class _ModemUart:
    """The UART wired to a modem emulator (tests/device/modem.py) through a TCP bridge to its pty:
    bytes and their timing as they are (the unix port has no way to read a pty without blocking)."""

    def __init__(self, port):
        import socket

        self.sock = socket.socket()
        self.sock.connect(socket.getaddrinfo("127.0.0.1", port)[0][-1])
        self.sock.setblocking(False)

    def write(self, data):
        self.sock.send(data.encode() if isinstance(data, str) else data)

    def read(self):
        try:
            data = self.sock.recv(1024)
        except OSError:
            return None
        return data or None


def UART(number, baudrate, rx, tx, timeout):  # noqa: N802 - machine.UART's name
    port = os.getenv("PS_MODEM_TCP")
    return _ModemUart(int(port)) if port else _StateUart(number, baudrate, rx, tx, timeout)


class _StateUart:
    ANSWERS = {"AT": "OK", "AT+CGDCONT": "OK", "+++": "OK"}

    def __init__(self, number, baudrate, rx, tx, timeout):
        self.pending = b""

    def write(self, data):
        command = data.strip().split("=")[0] if isinstance(data, str) else data.decode().strip()
        state = coverage()
        if state == "silent":
            return
        if command in ("AT+CEREG?", "AT+CREG?"):
            registered = "1" if state in ("up", "nodata") else "2"
            answer = "%s: 0,%s\r\nOK" % (command[2:-1], registered)
        elif command == "ATD*99#":
            answer = "CONNECT" if state == "up" else "NO CARRIER\r\nERROR"
        else:
            answer = self.ANSWERS.get(command.split("=")[0], "OK")
        self.pending += (answer + "\r\n").encode()

    def read(self):
        data, self.pending = self.pending, b""
        return data or None


def reset():
    print("reboot")
    raise SystemExit(3)
