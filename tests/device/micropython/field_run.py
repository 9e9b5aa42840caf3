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


main.read_sensor = read_sensor
loop = field.Field(main.Board(), config, main.link)
start = time.ticks_ms()
seconds = int(sys.argv[1])
while time.ticks_diff(time.ticks_ms(), start) < seconds * 1000:
    time.sleep_ms(loop.step())
print("queued %d" % len(loop.queue))
print("attempts %d" % loop.attempts)
print("ppp objects %d" % network.created)
