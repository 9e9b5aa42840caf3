# polysource_field for MicroPython: a board's life in the field, the same decisions as
# polysource_field.c (power-up, the clock before TLS, backoff, store and forward, keepalive).
# Generated into each board's folder by polysource; the same file for every board. main.py gives it
# the board's hands (pins, modem or WiFi, clock, watchdog) as a Board object.
import socket
import struct
import time

NET_OK = 0
NET_MODEM_SILENT = 1
NET_NO_REGISTRATION = 2
NET_NO_DATA = 3
NET_NO_WIFI = 4
NETWORK_WORDS = {
    NET_MODEM_SILENT: "the modem does not answer AT (power, UART pins rx/tx, baud?)",
    NET_NO_REGISTRATION: "no mobile network registration (antenna, SIM, coverage?)",
    NET_NO_DATA: "registered, but no data session (check the APN in secrets.py)",
    NET_NO_WIFI: "WiFi did not connect (SSID, password?)",
}
# A time is believed only inside [2026-01-01, 25 years later]: a board boots at 2000, and a modem's
# clock holds a default date until the network sets it (a SIM7600's 80/01/06 reads as 2080).
CLOCK_NOT_BEFORE = 1767225600
CLOCK_NOT_AFTER = CLOCK_NOT_BEFORE + 25 * 31556952
NTP_DELTA = 2208988800  # 1900-01-01 to 1970-01-01
# time.time() counts from 2000 on older MicroPython ports, from 1970 on newer ones.
EPOCH_OFFSET = 946684800 if time.gmtime(0)[0] == 2000 else 0

BACKOFF_MIN_MS = 5000
BACKOFF_MAX_MS = 300000  # 5 min between attempts at most, for a network problem
BACKOFF_PERMANENT_MS = 900000  # 15 min after a refused password or certificate
REBOOT_AFTER = 30  # failed attempts in a row before the board restarts itself
QUEUE_LEN = 64  # readings kept while the broker is out of reach; oldest dropped first


def unix_now():
    return int(time.time()) + EPOCH_OFFSET


def unix_ms_now():
    """The board's clock in Unix ms: time.time_ns() where the port has it (ESP32 since 1.18)."""
    if hasattr(time, "time_ns"):
        return time.time_ns() // 1000000 + EPOCH_OFFSET * 1000
    return unix_now() * 1000


def plausible(unix_s):
    return CLOCK_NOT_BEFORE <= unix_s <= CLOCK_NOT_AFTER


def sntp_time(host, port=123, timeout=5):
    """The network's time (Unix seconds) by SNTP over the data link, or 0."""
    request = bytearray(48)
    request[0] = 0x1B  # LI 0, version 3, client
    sock = None
    try:
        address = socket.getaddrinfo(host, port, 0, socket.SOCK_DGRAM)[0][-1]
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.settimeout(timeout)
        sock.sendto(request, address)
        answer = sock.recv(48)
    except OSError:
        return 0
    finally:
        if sock:
            sock.close()
    if len(answer) < 48 or answer[0] & 0x07 != 4:  # mode 4: a server's answer
        return 0
    seconds = struct.unpack("!I", answer[40:44])[0]
    return seconds - NTP_DELTA if seconds > NTP_DELTA else 0


def backoff_ms(failures, permanent, random):
    """Capped exponential backoff, with jitter: boards that lost the network together return apart."""
    if permanent:
        cap = BACKOFF_PERMANENT_MS
        return cap - cap // 8 + random % (cap // 8 + 1)
    wait = BACKOFF_MIN_MS
    while failures > 1 and wait < BACKOFF_MAX_MS:
        wait *= 2
        failures -= 1
    wait = min(wait, BACKOFF_MAX_MS)
    return wait - wait // 4 + random % (wait // 4 + 1)


class Field:
    """Measure on time, queue with the time measured, send when the broker can take it."""

    def __init__(self, board, config, link):
        self.board = board
        if hasattr(board, "tick"):
            board.tick = self.tick
        self.config = config
        self.link = link
        self.session = None
        # (sensor index, value, Unix ms when measured, or None and the ticks_ms then): Unix time from
        # the board's clock, never from a tick difference, which wraps (12.4 days on the ESP32)
        self.queue = []
        self.dropped = 0
        self.modem_on = False
        self.clock_ticks = None  # ticks_ms when the clock was set, and the Unix ms then
        self.clock_unix_ms = 0
        self.last_read = None
        self.last_heard = 0
        self.retry_at = None
        self.failures = 0
        self.data_failures = 0
        self.attempts = 0

    def tick(self):
        """From inside a long wait of the board's: measure what is due."""
        now = self.board.ticks_ms()
        if self.last_read is None or time.ticks_diff(now, self.last_read) >= self.config.INTERVAL_S * 1000:
            self.measure(now)

    def say(self, text):
        self.board.say("polysource: " + text)

    # --- the modem's power-up, from the board preset ---------------------------------------------
    def power_up(self):
        power = self.config.POWER
        board = self.board
        if power["power_enable"] is not None:
            board.pin(power["power_enable"], 1)
        if power["reset"] is not None:
            board.pin(power["reset"], 0 if power["reset_level"] else 1)
            if power["reset_ms"]:  # the vendor's reset pulse: idle, reset, idle
                board.sleep_ms(100)
                board.pin(power["reset"], power["reset_level"])
                board.sleep_ms(power["reset_ms"])
                board.pin(power["reset"], 0 if power["reset_level"] else 1)
        if power["flight"] is not None:
            board.pin(power["flight"], 1)
        if power["dtr"] is not None:
            board.pin(power["dtr"], 0)
        for _ in range(2):  # pressed twice at most: the modem may have been on
            if power["pwrkey"] is not None:
                level = power["pwrkey_level"]
                board.pin(power["pwrkey"], 0 if level else 1)
                board.sleep_ms(100)
                board.pin(power["pwrkey"], level)
                if power["pwrkey_ms"]:
                    board.sleep_ms(power["pwrkey_ms"])
                    board.pin(power["pwrkey"], 0 if level else 1)
            start = board.ticks_ms()
            while time.ticks_diff(board.ticks_ms(), start) < power["boot_s"] * 1000:
                board.feed()
                if board.modem_answers():
                    self.modem_on = True
                    return True
                board.sleep_ms(500)
            if power["pwrkey"] is None:
                break
        self.say("the modem does not answer AT within %d s (power, UART rx/tx, baud?)" % power["boot_s"])
        return False

    # --- connecting, with backoff ----------------------------------------------------------------
    def failed(self, permanent=False):
        self.failures += 1
        if self.failures >= REBOOT_AFTER:
            self.say("too many failed attempts in a row: restarting the board")
            self.board.reboot()
        wait = backoff_ms(self.failures, permanent, self.board.random())
        self.retry_at = time.ticks_add(self.board.ticks_ms(), wait)
        self.say("next attempt in %d s" % (wait // 1000))

    def drop_session(self):
        if self.session is not None:
            self.session.close()  # closes its socket too
        self.session = None

    def link_up(self):
        board, config = self.board, self.config
        if config.MODEM != "wifi" and not self.modem_on and not self.power_up():
            return self.failed()
        why = board.network_up()
        if why != NET_OK:
            self.say(NETWORK_WORDS.get(why, "no network"))
            if why == NET_MODEM_SILENT:
                self.modem_on = False  # power it up again next time: once, not on every failed check
            elif why == NET_NO_DATA:
                self.data_failures += 1
                if self.data_failures >= 3:
                    self.modem_on = False
                    self.data_failures = 0
            return self.failed()
        self.data_failures = 0
        if self.clock_ticks is None:
            now = board.network_time()
            if not plausible(now):
                self.say("waiting for the network's time (TLS checks certificate dates against it)")
                return self.failed()
            board.set_clock(now)
            self.clock_ticks = board.ticks_ms()
            self.clock_unix_ms = now * 1000
            # Readings measured before: their time now, while their ticks are minutes old, not days.
            self.queue = [
                (i, v, at if at is not None else self.unix_ms_at(ticks), ticks)
                for i, v, at, ticks in self.queue
            ]
            self.say("clock set from the network: %d" % now)
        self.attempts += 1
        try:
            self.session = self.link.Link(
                config.HOST, config.PORT, config.TLS, config.CA_DERS, config.CLIENT_ID,
                board.username(), board.password(), config.KEEPALIVE_S, config.TIMEOUT_S,
            )  # fmt: skip
        except self.link.LinkError as error:
            self.say(str(error))
            if error.clock_wrong:
                self.clock_ticks = None  # read the network's time again
            return self.failed(error.refused)
        self.failures = 0
        self.last_heard = board.ticks_ms()
        self.say("connected to %s" % config.HOST)

    # --- the step ----------------------------------------------------------------------------------
    def unix_ms_at(self, ticks):
        return self.clock_unix_ms + time.ticks_diff(ticks, self.clock_ticks)

    def measure(self, now):
        measured = unix_ms_now() if self.clock_ticks is not None else None
        for index in range(len(self.config.READINGS)):
            if len(self.queue) >= QUEUE_LEN:
                self.queue.pop(0)
                self.dropped += 1
            self.queue.append((index, self.board.read_sensor(index), measured, now))
        self.last_read = now
        if self.dropped:
            self.say("the queue was full: %d oldest readings dropped" % self.dropped)
            self.dropped = 0

    def publish_queued(self):
        while self.queue:
            index, value, measured, ticks = self.queue[0]
            self.board.feed()
            sensor, topic, template, unit, decimals, low, high = self.config.READINGS[index][:7]
            if measured is None:
                measured = self.unix_ms_at(ticks)
            try:
                payload = self.link.format_payload(template, decimals, value, measured)
            except self.link.LinkError as error:
                self.say("%s: dropped" % error)
                self.queue.pop(0)
                continue
            try:
                self.session.publish(topic, payload, self.config.QOS)
            except self.link.LinkError as error:
                self.say("%s (%d readings kept)" % (error, len(self.queue)))
                return False  # not acknowledged: it stays queued, sent again after reconnecting
            self.say("%s %s" % (topic, payload))
            self.queue.pop(0)
            self.last_heard = self.board.ticks_ms()
        return True

    def step(self):
        """Whatever is due now. The ms until the next step (at most 1 s: the watchdog is fed)."""
        board = self.board
        board.feed()
        now = board.ticks_ms()
        interval_ms = self.config.INTERVAL_S * 1000
        if self.last_read is None or time.ticks_diff(now, self.last_read) >= interval_ms:
            self.measure(now)
        if self.retry_at is not None and time.ticks_diff(self.retry_at, now) > 0:
            pass
        else:
            self.retry_at = None
            if self.session is None:
                self.link_up()
            if self.session is not None:
                if not self.publish_queued():
                    self.drop_session()
                    self.failed()
                elif time.ticks_diff(board.ticks_ms(), self.last_heard) >= self.config.KEEPALIVE_S * 1000:
                    try:
                        self.session.ping()
                        self.last_heard = board.ticks_ms()
                    except self.link.LinkError as error:
                        self.say(str(error))
                        self.drop_session()
                        self.failed()
        until_read = interval_ms - time.ticks_diff(board.ticks_ms(), self.last_read)
        return max(0, min(1000, until_read))
