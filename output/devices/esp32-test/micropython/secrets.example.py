# secrets.py for board esp32-test (project polysource): copy this file to secrets.py, fill it in,
# and never commit secrets.py (the .gitignore keeps it out of git; render keeps it).
PASSWORD = ""  # ${ESP32_TEST_PASSWORD}: the board's password on the broker
APN = ""  # ${SIM_APN}, e.g. "internet"
SIM_PIN = ""  # empty when the SIM has no PIN
