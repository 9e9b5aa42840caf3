"""An AT-command modem on a pty, for the board's real TinyGSM driver to talk to: the SIM7600 family
(Scenario.family "sim7600") and the SIM7000/SIM7080 family ("sim7000", see _command_sim7000).

Written from what TinyGSM 0.12.0's SIM7600 driver sends and parses (TinyGsmClientSIM7600.h,
TinyGsmModem.tpp, TinyGsmTime.tpp, TinyGsmNTP.tpp) and from SIMCom's SIM7500/SIM7600 AT command
manual's answers: echo on until ATE0; "RDY" and "PB DONE" after boot; registration by AT+CGREG?;
the data session by AT+NETOPEN (OK, then +NETOPEN: 0); sockets by AT+CIPOPEN in manual-read mode
(AT+CIPRXGET=1: the +CIPRXGET: 1,<link> URC, then AT+CIPRXGET=2/4 to read and count), sent by
AT+CIPSEND (">" prompt, then +CIPSEND: <link>,<asked>,<sent>); +IPCLOSE and +CIPEVENT when the
network closes them. Its real-time clock starts at the default date a SIMCom modem reports until
the network sets it (80/01/06 for this family, the GPS epoch), the network's time (NITZ) reaches it
only once AT+CTZU=1 was sent, and AT+CNTP asks an NTP server through the data session.

Sockets are bridged to real TCP on this host: every host name the board asks for is `target`.
What a test controls, in field seconds (the board's clock may run `scale` times the host's):
boot time, PWRKEY (read from the board's pin log), coverage that goes and comes back (sockets stall,
then after `pdp_lost_after_s` the data session drops), and a delay per command. Every command and
every byte carried is logged, to count handshakes and bytes on the link.
"""

from __future__ import annotations

import contextlib
import os
import re
import select
import socket
import threading
import time
import tty
from dataclasses import dataclass, field
from pathlib import Path

OK = b"\r\nOK\r\n"
ERROR = b"\r\nERROR\r\n"
DEFAULT_CLOCK = (1980, 1, 6)  # the SIM7600 family's RTC until the network sets it


@dataclass
class Records:
    """TLS records seen in one direction of a link: (content type, bytes with their header)."""

    seen: list[tuple[int, int]] = field(default_factory=list)
    partial: bytearray = field(default_factory=bytearray)

    def feed(self, data: bytes) -> None:
        self.partial += data
        while len(self.partial) >= 5:
            size = 5 + int.from_bytes(self.partial[3:5], "big")
            if len(self.partial) < size:
                return
            self.seen.append((self.partial[0], size))
            del self.partial[:size]

    def bytes(self, *types: int) -> int:
        return sum(size for kind, size in self.seen if kind in types)

    def count(self, kind: int) -> int:
        return sum(1 for seen, _ in self.seen if seen == kind)


HANDSHAKE = (20, 21, 22)  # change_cipher_spec, alert, handshake
APPLICATION = 23


@dataclass
class Link:
    """One of the modem's ten sockets, carried over a host TCP socket."""

    sock: socket.socket
    pending: bytearray = field(default_factory=bytearray)  # received, not yet read by the board
    held_up: bytearray = field(default_factory=bytearray)  # sent by the board while out of coverage
    open: bool = True
    bytes_up: int = 0
    bytes_down: int = 0
    segments_up: int = 0  # each AT+CIPSEND's bytes, one TCP segment
    segments_down: int = 0  # each arrival from the broker's side
    connect_segments: tuple[int, int] = (0, 0)  # up and down, until the broker's first MQTT packet
    up: Records = field(default_factory=Records)
    down: Records = field(default_factory=Records)


@dataclass
class Scenario:
    """What the network and the modem do; times in field seconds."""

    powered: bool = False  # on at start (an ESP32 reset with the modem still on)
    boot_s: float = 12.0  # from PWRKEY to AT answering
    pwrkey_pin: int = -1  # -1: no PWRKEY line (powered at start)
    pwrkey_level: int = 1  # the level the ESP32 writes to press it
    pwrkey_on_ms: int = 100  # the shortest press that turns it on (SIM7600 100 ms; SIM7000 Ton 1 s)
    nitz: bool = True  # the operator sends its time once AT+CTZU=1
    ntp: bool = True  # NTP answers through the data session
    netopen_s: float = 0.5
    cipopen_s: float = 0.3
    rtt_s: float = 0.0  # added before every socket's bytes reach the other side
    pdp_lost_after_s: float = 60.0  # out of coverage this long: the data session drops
    family: str = "sim7600"  # or "sim7000": the SIM7000/SIM7080 application commands (CNACT, CA*)


class Modem:
    """A SIM7600 on a pty; `path` is the UART the board opens."""

    def __init__(
        self,
        target: tuple[str, int],
        scale: float = 1.0,
        scenario: Scenario | None = None,
        pins_log: Path | None = None,
    ):
        self.target = target
        self.scale = scale
        self.scenario = scenario or Scenario()
        self.pins_log = pins_log
        self.master, self.slave = os.openpty()
        tty.setraw(self.slave)
        self.path = os.ttyname(self.slave)
        self.lock = threading.RLock()
        self.log: list[tuple[float, str]] = []
        self.links: dict[int, Link] = {}
        self.closed_links: list[Link] = []
        self.opened: list[Link] = []  # every socket the board opened, in order
        self.coverage = True
        self.coverage_lost_at = 0.0
        self.echo = True
        self.ctzu = False
        self.netopen = False
        self.rx_manual = False
        self.clock_offset: float | None = None  # network time minus host time, once set
        self.clock_base = time.time()  # the default date counts from here
        self.on = self.scenario.powered
        self.booted_at = time.monotonic() - (self.scenario.boot_s / scale if self.on else 0)
        self.pins_read = 0
        self.pressed_at: int | None = None
        self.power_ups = 0
        self.sending: tuple[int, int] | None = None  # (link, bytes) expected after ">"
        self.buffer = bytearray()
        self.data_mode = False
        self.data_bytes = 0
        self.last_data = 0.0
        self.escape: bytes | None = None
        self.escape_at = 0.0
        self.running = True
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    # --- what a test does -------------------------------------------------------------------------

    def lose_coverage(self) -> None:
        with self.lock:
            self.coverage = False
            self.coverage_lost_at = time.monotonic()
            self.log.append((time.monotonic(), "# coverage lost"))

    def regain_coverage(self) -> None:
        with self.lock:
            self.coverage = True
            self.log.append((time.monotonic(), "# coverage back"))
            for number, link in self.links.items():
                if link.held_up:
                    self._forward(number, link, bytes(link.held_up))
                    link.held_up.clear()
                urc = self._data_urc(number)
                if link.pending and urc:
                    self._urc(urc)

    def commands(self, prefix: str = "") -> list[str]:
        return [line for _, line in self.log if line.startswith(prefix)]

    def stop(self) -> None:
        """The reader thread ends before the pty's descriptors close: a thread still selecting on a
        closed descriptor number reads from whatever file the process opens next under that number
        (the next test's pty, an HTTP response), a flaw that once stole a board's AT+CIPSEND."""
        with self.lock:
            self.running = False
        if self.thread is not threading.current_thread():
            self.thread.join(timeout=5)
        for link in list(self.links.values()):
            link.sock.close()
        for fd in (self.master, self.slave):
            with contextlib.suppress(OSError):
                os.close(fd)

    # --- the UART ---------------------------------------------------------------------------------

    def _write(self, data: bytes) -> None:
        with self.lock:
            if self.on and self.running:
                with contextlib.suppress(OSError):  # the pty is closed: the emulator is stopping
                    os.write(self.master, data)

    def _urc(self, text: str) -> None:
        self._write(b"\r\n" + text.encode() + b"\r\n")

    def _later(self, field_s: float, action) -> None:
        timer = threading.Timer(max(field_s, 0) / self.scale, action)
        timer.daemon = True
        timer.start()

    def _run(self) -> None:
        while self.running:
            self._read_pins()
            self._check_boot()
            self._check_coverage()
            self._check_escape()
            try:
                ready, _, _ = select.select([self.master], [], [], 0.01)
            except (OSError, ValueError):
                return
            if not ready or not self.running:
                continue
            try:
                data = os.read(self.master, 4096)
            except OSError:
                return
            if not self.on or not self._booted():
                continue  # a modem that is off, or still booting, hears nothing
            with self.lock:
                if self.data_mode:
                    self._data(data)
                else:
                    self.buffer += data
                    self._consume()

    # --- data mode (ATD*99#: PPP), left by "+++" alone between two guard times ----------------------

    GUARD_S = 1.0  # the escape guard time (S12 = 50, in fiftieths of a second)

    def _data(self, data: bytes) -> None:
        """Bytes in data mode: PPP for the network (not emulated: counted), or the escape sequence."""
        now = time.monotonic()
        guard = self.GUARD_S / self.scale
        self.data_bytes += len(data)
        if self.escape is None and now - self.last_data >= guard and data.startswith(b"+"):
            self.escape = b""
        if self.escape is not None:
            self.escape += data
            if not b"+++".startswith(self.escape[:3]) or len(self.escape) > 3:
                self.escape = None  # "+++" followed by more (CR LF): data, data mode goes on
            else:
                self.escape_at = now
        self.last_data = now

    def _check_escape(self) -> None:
        if self.escape == b"+++" and time.monotonic() - self.escape_at >= self.GUARD_S / self.scale:
            with self.lock:
                self.escape = None
                self.data_mode = False
                self.log.append((time.monotonic(), "# data mode left"))
                self._write(OK)

    def _booted(self) -> bool:
        return self.on and time.monotonic() >= self.booted_at + self.scenario.boot_s / self.scale

    def _check_boot(self) -> None:
        if self.on and not getattr(self, "_announced", False) and self._booted():
            self._announced = True
            self._urc("RDY")
            self._urc("+CPIN: READY")
            self._urc("SMS DONE")
            self._urc("PB DONE")

    def _power(self, on: bool) -> None:
        with self.lock:
            self.log.append((time.monotonic(), f"# power {'on' if on else 'off'}"))
            self.on = on
            self._announced = False
            if on:
                self.power_ups += 1
                self.booted_at = time.monotonic()
                self.echo, self.ctzu, self.rx_manual = True, False, False
                self.clock_offset = None
                self.clock_base = time.time()
            self._drop_session()

    def _read_pins(self) -> None:
        """PWRKEY from the board's pin log: a press of pwrkey_on_ms or more turns the modem on, one
        of 2.5 s or more turns it off (SIM7600 hardware design's power-on and power-off pulses)."""
        if self.pins_log is None or self.scenario.pwrkey_pin < 0 or not self.pins_log.exists():
            return
        with open(self.pins_log) as file:
            file.seek(self.pins_read)
            lines = file.readlines()
            self.pins_read = file.tell()
        for line in lines:
            at, pin, level = (int(word) for word in line.split())
            if pin != self.scenario.pwrkey_pin:
                continue
            if level == self.scenario.pwrkey_level:
                self.pressed_at = at
            elif self.pressed_at is not None:
                held = at - self.pressed_at
                self.pressed_at = None
                if not self.on and held >= self.scenario.pwrkey_on_ms:
                    self._power(True)
                elif self.on and held >= 2500:
                    self._power(False)

    def _check_coverage(self) -> None:
        if self.coverage or not self.netopen:
            return
        if time.monotonic() - self.coverage_lost_at >= self.scenario.pdp_lost_after_s / self.scale:
            with self.lock:
                self._drop_session()
                self._urc("+CIPEVENT: NETWORK CLOSED UNEXPECTEDLY")

    def _drop_session(self) -> None:
        for number, link in list(self.links.items()):
            link.sock.close()
            link.open = False
            self.closed_links.append(link)
            if self.on and self.netopen:
                self._urc(self._closed_urc(number, 2))
        self.links.clear()
        self.netopen = False

    # --- commands ---------------------------------------------------------------------------------

    def _consume(self) -> None:
        while self.buffer:
            if self.sending is not None:
                number, size = self.sending
                if len(self.buffer) < size:
                    return
                data, self.buffer = bytes(self.buffer[:size]), self.buffer[size:]
                self.sending = None
                self._send(number, data)
                continue
            end = self.buffer.find(b"\r")
            if end < 0:
                return
            line = bytes(self.buffer[:end]).strip(b"\n").decode("latin-1")
            self.buffer = self.buffer[end + 1 :]
            if self.buffer.startswith(b"\n"):
                self.buffer = self.buffer[1:]
            if not line:
                continue
            self.log.append((time.monotonic(), line))
            if self.echo:
                self._write(line.encode("latin-1") + b"\r")
            if not line.upper().startswith("AT"):
                self._write(ERROR)
                continue
            self._command(line[2:])

    def _command(self, cmd: str) -> None:  # noqa: C901 - one branch per AT command, as the manual
        upper = cmd.upper()
        if self.scenario.family == "sim7000" and self._command_sim7000(upper, cmd):
            return
        if upper in ("", "E1", "E0"):
            if upper:
                self.echo = upper == "E1"
            self._write(OK)
        elif upper.startswith(
            (
                "+CMEE=",
                "+CTZR=",
                "+CGAUTH=",
                "+CGDCONT=",
                "+CIPMODE=",
                "+CIPSENDMODE=",
                "+CIPCCFG=",
                "+CIPTIMEOUT=",
                "+CFUN=",
                "+CSCLK=",
                "+CNMP=",
            )
        ):
            self._write(OK)
        elif upper.startswith("+CTZU="):
            self.ctzu = upper.endswith("1")
            self._write(OK)
        elif upper == "+CPIN?":
            self._write(b"\r\n+CPIN: READY\r\n" + OK)
        elif upper in ("+CGREG?", "+CREG?", "+CEREG?"):
            status = 1 if self.coverage else 2
            self._write(f"\r\n{upper[:-1]}: 0,{status}\r\n".encode() + OK)
        elif upper == "+CSQ":
            self._write(b"\r\n+CSQ: " + (b"21,99" if self.coverage else b"99,99") + b"\r\n" + OK)
        elif upper == "+CCLK?":
            self._write(f'\r\n+CCLK: "{self._clock()}"\r\n'.encode() + OK)
        elif upper == "+NETOPEN":
            self._netopen()
        elif upper == "+NETOPEN?":
            self._write(f"\r\n+NETOPEN: {int(self.netopen)}\r\n".encode() + OK)
        elif upper == "+NETCLOSE":
            if not self.netopen:
                self._write(b"\r\n+NETCLOSE: 2\r\n" + ERROR)
            else:
                self._drop_session()
                self._write(OK + b"\r\n+NETCLOSE: 0\r\n")
        elif upper == "+IPADDR":
            self._write(
                b"\r\n+IPADDR: 10.64.12.7\r\n" + OK
                if self.netopen
                else b"\r\n+IP ERROR: Network not opened\r\n" + ERROR
            )
        elif upper.startswith("+CIPRXGET="):
            self._ciprxget(upper[len("+CIPRXGET=") :])
        elif upper.startswith("+CIPOPEN="):
            self._cipopen(cmd[len("+CIPOPEN=") :])
        elif upper.startswith("+CIPSEND="):
            number, size = (int(x) for x in upper[len("+CIPSEND=") :].split(","))
            link = self.links.get(number)
            if link is None or not link.open:
                self._write(ERROR)
            else:
                self.sending = (number, size)
                self._write(b"\r\n>")
        elif upper == "+CIPCLOSE?":
            states = ",".join("1" if n in self.links else "0" for n in range(10))
            self._write(f"\r\n+CIPCLOSE: {states}\r\n".encode() + OK)
        elif upper.startswith("+CIPCLOSE="):
            number = int(upper.split("=")[1])
            self._write(OK + f"\r\n+CIPCLOSE: {number},0\r\n".encode() if self._close_link(number) else ERROR)
        elif upper.startswith("D*99"):
            if not self.coverage:
                self._write(b"\r\nNO CARRIER\r\n")
                return
            self.data_mode = True
            self.last_data = time.monotonic()
            self._write(b"\r\nCONNECT 150000000\r\n")
        elif upper.startswith("+CNTP="):
            self._write(OK)
        elif upper == "+CNTP":
            self._write(OK)
            self._later(1.0, self._ntp_answer)
        elif upper == "+CRESET":
            self._write(OK)
            self._later(0.5, lambda: (self._power(False), self._power(True)))
        elif upper == "+CPOF":
            self._write(OK)
            self._later(0.2, lambda: self._power(False))
        else:
            self._write(ERROR)  # +CNTPCID and the rest: not this family's

    # --- the SIM7000/SIM7080 family: its application network (CNACT) and sockets (CA*) -------------
    # From TinyGSM's TinyGsmClientSIM7000SSL.h and SIMCom's SIM7000 AT manual: network time once
    # AT+CLTS=1; AT+CNACT=1,"APN" answers OK, then +APP PDP: ACTIVE; AT+CAOPEN answers OK, then
    # +CAOPEN: <cid>,<result>; AT+CASEND's data is followed by +CASEND: <cid>,<result>,<length>;
    # +CADATAIND: <cid> when data arrives, read by AT+CARECV; +CASTATE: <cid>,0 when a socket closes;
    # +CNTP: 1 is success here (0 on a SIM7600).

    def _command_sim7000(self, upper: str, cmd: str) -> bool:  # noqa: C901 - one branch per command
        if upper.startswith("+CLTS="):
            self.ctzu = upper.endswith("1")
            self._write(OK)
        elif upper.startswith(("+CBATCHK=", "+CNCFG=", "+CACID=", "+CASSLCFG=", "+CNTPCID=", "+CGATT=")):
            self._write(OK)
        elif upper == "+CGATT?":
            self._write(f"\r\n+CGATT: {int(self.coverage)}\r\n".encode() + OK)
        elif upper.startswith("+CNACT=1"):
            self._write(OK)

            def active() -> None:
                with self.lock:
                    self.netopen = self.coverage
                    self._urc("+APP PDP: ACTIVE" if self.coverage else "+APP PDP: DEACTIVE")

            self._later(self.scenario.netopen_s, active)
        elif upper.startswith("+CNACT=0"):
            self._drop_session()
            self._write(OK)
        elif upper == "+CNACT?":
            address = '1,"10.64.12.7"' if self.netopen else '0,"0.0.0.0"'
            self._write(f"\r\n+CNACT: {address}\r\n".encode() + OK)
        elif upper.startswith("+CAOPEN="):
            match = re.fullmatch(r'(\d+),"([^"]*)",(\d+)', cmd[len("+CAOPEN=") :])
            if not match or not self.netopen:
                self._write(ERROR)
            else:
                self._open_link(int(match.group(1)), match.group(2), "+CAOPEN: {n},{result}", failed=27)
        elif upper.startswith("+CASEND="):
            number, size = (int(x) for x in upper[len("+CASEND=") :].split(","))
            if number not in self.links:
                self._write(ERROR)
            else:
                self.sending = (number, size)
                self._write(b"\r\n>")
        elif upper.startswith("+CARECV="):
            number, size = (int(x) for x in upper[len("+CARECV=") :].split(","))
            link = self.links.get(number)
            readable = link.pending if link is not None and self.coverage else bytearray()
            data = bytes(readable[: min(size, 1460)])
            del readable[: len(data)]
            self._write(f"\r\n+CARECV: {len(data)},".encode() + data + b"\r\n" + OK)
        elif upper == "+CARECV?":
            lines = "".join(
                f"\r\n+CARECV: {n},{len(link.pending)}\r\n"
                for n, link in sorted(self.links.items())
                if link.pending and self.coverage
            )
            self._write(lines.encode() + OK)
        elif upper == "+CASTATE?":
            lines = "".join(f"\r\n+CASTATE: {n},1\r\n" for n in sorted(self.links))
            self._write(lines.encode() + OK)
        elif upper.startswith("+CACLOSE="):
            self._write(OK if self._close_link(int(upper.split("=")[1])) else ERROR)
        else:
            return False
        return True

    def _close_link(self, number: int) -> bool:
        """The board closes socket `number`: False when it was not open."""
        link = self.links.pop(number, None)
        if link is None:
            return False
        link.sock.close()
        link.open = False
        self.closed_links.append(link)
        return True

    def _data_urc(self, number: int) -> str | None:
        if self.scenario.family == "sim7000":
            return f"+CADATAIND: {number}"
        return f"+CIPRXGET: 1,{number}" if self.rx_manual else None

    def _closed_urc(self, number: int, why: int) -> str:
        return f"+CASTATE: {number},0" if self.scenario.family == "sim7000" else f"+IPCLOSE: {number},{why}"

    def _clock(self) -> str:
        if self.clock_offset is None and self.ctzu and self.scenario.nitz and self.coverage:
            self.clock_offset = 0.0  # the operator's NITZ, heard once CTZU is on
        elapsed = (time.time() - self.clock_base) * self.scale
        if self.clock_offset is None:
            base = time.mktime((*DEFAULT_CLOCK, 0, 0, 0, 0, 0, 0)) - time.timezone
            now = time.gmtime(base + elapsed)
        else:
            now = time.gmtime(time.time() + self.clock_offset)
        return time.strftime("%y/%m/%d,%H:%M:%S", now) + "+00"

    def _ntp_answer(self) -> None:
        ok, failed = ("1", "61") if self.scenario.family == "sim7000" else ("0", "1")
        if self.netopen and self.coverage and self.scenario.ntp:
            self.clock_offset = 0.0
            self._urc("+CNTP: " + ok)
        else:
            self._urc("+CNTP: " + failed)

    def _netopen(self) -> None:
        if self.netopen:
            self._write(b"\r\n+IP ERROR: Network is already opened\r\n" + ERROR)
            return
        self._write(OK)

        def attached() -> None:
            with self.lock:
                if self.coverage:
                    self.netopen = True
                    self._urc("+NETOPEN: 0")
                else:
                    self._urc("+NETOPEN: 1")

        self._later(self.scenario.netopen_s, attached)

    def _cipopen(self, args: str) -> None:
        match = re.fullmatch(r'(\d+),"TCP","([^"]*)",(\d+)', args)
        if not match or not self.netopen:
            self._write(ERROR)
            return
        self._open_link(int(match.group(1)), match.group(2), "+CIPOPEN: {n},{result}", failed=4)

    def _open_link(self, number: int, host: str, answer: str, failed: int) -> None:
        """OK now; the socket to `target` (whatever the host name) and `answer` after cipopen_s."""
        self._write(OK)

        def connect() -> None:
            try:
                sock = socket.create_connection(self.target, timeout=5)
            except OSError:
                self._urc(answer.format(n=number, result=failed))
                return
            sock.settimeout(None)  # a TCP connection stays open through any silence, as on a network
            with self.lock:
                if not self.coverage or not self.netopen:
                    sock.close()
                    self._urc(answer.format(n=number, result=failed))
                    return
                link = Link(sock)
                self.links[number] = link
                self.opened.append(link)
                self.log.append((time.monotonic(), f"# connected {number} to {host}"))
                self._urc(answer.format(n=number, result=0))
            threading.Thread(target=self._receive, args=(number, link), daemon=True).start()

        self._later(self.scenario.cipopen_s, connect)

    def _send(self, number: int, data: bytes) -> None:
        link = self.links.get(number)
        if link is None:
            self._write(ERROR)
            return
        if self.scenario.family == "sim7000":
            self._write(OK + f"\r\n+CASEND: {number},0,{len(data)}\r\n".encode())
        else:
            self._write(OK + f"\r\n+CIPSEND: {number},{len(data)},{len(data)}\r\n".encode())
        if self.coverage:
            self._forward(number, link, data)
        else:
            link.held_up += data

    def _forward(self, number: int, link: Link, data: bytes) -> None:
        link.bytes_up += len(data)
        link.segments_up += 1
        if not link.down.count(APPLICATION):
            link.connect_segments = (link.connect_segments[0] + 1, link.connect_segments[1])
        link.up.feed(data)

        def send() -> None:
            with contextlib.suppress(OSError):
                link.sock.sendall(data)

        if self.scenario.rtt_s:
            self._later(self.scenario.rtt_s / 2, send)
        else:
            send()

    def _receive(self, number: int, link: Link) -> None:
        while link.open:
            try:
                data = link.sock.recv(4096)
            except OSError:
                data = b""
            if self.scenario.rtt_s:
                time.sleep(self.scenario.rtt_s / 2 / self.scale)
            with self.lock:
                if not link.open:
                    return
                if not data:
                    link.open = False
                    self.log.append((time.monotonic(), f"# closed {number} by the other side"))
                    if self.links.get(number) is link:
                        del self.links[number]
                        self.closed_links.append(link)
                        self._urc(self._closed_urc(number, 1))
                    return
                link.bytes_down += len(data)
                link.segments_down += 1
                if not link.down.count(APPLICATION):
                    link.connect_segments = (link.connect_segments[0], link.connect_segments[1] + 1)
                link.down.feed(data)
                was_empty = not link.pending
                link.pending += data
                urc = self._data_urc(number)
                if was_empty and self.coverage and urc:
                    self._urc(urc)

    def _ciprxget(self, args: str) -> None:
        parts = [int(x) for x in args.split(",")]
        mode = parts[0]
        if mode == 1:
            self.rx_manual = True
            self._write(OK)
            return
        link = self.links.get(parts[1]) if len(parts) > 1 else None
        if link is None:
            self._write(ERROR)
            return
        readable = link.pending if self.coverage else bytearray()
        if mode == 4:
            self._write(f"\r\n+CIPRXGET: 4,{parts[1]},{len(readable)}\r\n".encode() + OK)
        elif mode == 2:
            size = min(parts[2] if len(parts) > 2 else 1500, 1500, len(readable))
            data = bytes(readable[:size])
            del link.pending[:size]
            rest = len(link.pending)
            self._write(f"\r\n+CIPRXGET: 2,{parts[1]},{size},{rest}\r\n".encode() + data + OK)
        else:
            self._write(ERROR)
