# Runs the board's main.py field loop for argv[1] seconds under the unix port (polysource's tests):
# the broker at the test's TLS front, SNTP at the test's server, time scaled as in the C runs.
import os
import sys
import time

import main
import network
import polysource_config as config
import polysource_field as field

config.PORT = int(os.getenv("PS_TEST_PORT"))
config.NTP_HOST = "127.0.0.1"
config.NTP_PORT = int(os.getenv("PS_TEST_NTP_PORT"))
field.BACKOFF_MIN_MS, field.BACKOFF_MAX_MS, field.BACKOFF_PERMANENT_MS = 500, 2000, 8000
sequence = [0]


def read_sensor(index):
    sequence[0] += 1
    return float(sequence[0])


class Esp32Ticks:
    """time, with the ESP32 port's tick counter: it wraps every 2**30 ms (12.4 days), where the unix
    port's runs for 2**62."""

    PERIOD = 1 << 30

    def ticks_ms(self):
        return time.ticks_ms() % self.PERIOD

    def ticks_diff(self, a, b):
        return (a - b + self.PERIOD // 2) % self.PERIOD - self.PERIOD // 2

    def ticks_add(self, a, delta):
        return (a + delta) % self.PERIOD

    def __getattr__(self, name):
        return getattr(time, name)


main.read_sensor = read_sensor
board = main.Board()
# PS_TEST_CLOCK_SET_DAYS_AGO: the board has been up that long since its clock was set (its ticks
# moved that far, its RTC with them): the loop's record of that moment is moved back once it is set.
days_ago = float(os.getenv("PS_TEST_CLOCK_SET_DAYS_AGO") or 0)
if days_ago:
    ticks = Esp32Ticks()
    field.time = ticks
    board.ticks_ms = ticks.ticks_ms
loop = field.Field(board, config, main.link)
start = time.ticks_ms()
seconds = int(sys.argv[1])
while time.ticks_diff(time.ticks_ms(), start) < seconds * 1000:
    time.sleep_ms(loop.step())
    if days_ago and loop.clock_ticks is not None:
        back = int(days_ago * 86400000)
        loop.clock_ticks = ticks.ticks_add(loop.clock_ticks, -(back % ticks.PERIOD))
        loop.clock_unix_ms -= back
        days_ago = 0
print("queued %d" % len(loop.queue))
print("attempts %d" % loop.attempts)
print("ppp objects %d" % network.created)
