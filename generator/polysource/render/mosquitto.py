"""mosquitto.conf for a broker the stack runs itself."""

from polysource.render.templating import render_template
from polysource.stack import Stack, paths

MAX_QUEUED = 100_000


def render_mosquitto(stack: Stack) -> str:
    broker = stack.managed_broker
    assert broker is not None, "rendered only for a managed broker"
    return render_template(
        "mosquitto.conf.j2",
        project=stack.name,
        port=paths.MQTT_PORT,
        max_queued=MAX_QUEUED,
        window=broker.window,
        password_file=paths.MOSQUITTO_PASSWD,
        data=paths.MOSQUITTO_DATA,
    )
