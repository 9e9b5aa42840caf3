"""Where the stack's services answer from the laptop: the host of target.docker_host."""

from urllib.parse import urlsplit

from polysource.inventory.model import Broker, Inventory


def target_host(inventory: Inventory) -> str:
    """unix:// -> localhost; ssh://pi@raspberrypi.local -> raspberrypi.local; tcp://h:2376 -> h."""
    url = inventory.target.docker_host
    if url.startswith(("unix://", "npipe://")):
        return "localhost"
    return urlsplit(url).hostname or "localhost"


def broker_host(inventory: Inventory, broker: Broker) -> str:
    """A managed broker publishes its port on the Docker host; a cloud one has its own host."""
    return target_host(inventory) if broker.managed else str(broker.host)
