# Stand-in for MicroPython's `network` on an ESP32, for polysource's tests: PPP is up while the
# simulated modem (machine.py) has coverage; the data itself goes through the host's sockets.
import machine

STA_IF = 0
created = 0


class PPP:
    def __init__(self, uart):
        global created
        created += 1
        self.up = False

    def active(self, on):
        self.up = self.up and on

    def connect(self):
        self.up = machine.coverage() == "up"

    def isconnected(self):
        return self.up and machine.coverage() == "up"


class WLAN:
    def __init__(self, interface):
        pass

    def active(self, on):
        pass

    def connect(self, ssid, password):
        pass

    def isconnected(self):
        return machine.coverage() != "down"
