"""mosquitto.conf for a broker the stack runs itself."""

from polysource.stack import MQTT_PORT, Stack
from polysource.templating import render_template

MAX_QUEUED = 100_000


def render_mosquitto(stack: Stack) -> str:
    return render_template("mosquitto.conf.j2", project=stack.name, port=MQTT_PORT, max_queued=MAX_QUEUED)
