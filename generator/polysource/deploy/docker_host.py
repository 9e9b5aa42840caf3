"""Connecting to the Docker Engine the inventory targets, with errors that say what was tried."""

import os
from typing import Any

from polysource.errors import PolysourceError


def connect(host: str, timeout: int = 10) -> Any:
    import docker
    from docker.tls import TLSConfig

    tls: Any = False
    cert_path = os.environ.get("DOCKER_CERT_PATH")
    if host.startswith("tcp://") and cert_path:
        tls = TLSConfig(
            client_cert=(os.path.join(cert_path, "cert.pem"), os.path.join(cert_path, "key.pem")),
            ca_cert=os.path.join(cert_path, "ca.pem"),
            verify=os.environ.get("DOCKER_TLS_VERIFY", "1") != "0",
        )
    how = "over ssh (the ssh command)" if host.startswith("ssh://") else "through the Docker API"
    try:
        client = docker.DockerClient(
            base_url=host, tls=tls, timeout=timeout, use_ssh_client=host.startswith("ssh://")
        )
        client.ping()
    except Exception as error:  # the SDK raises several unrelated types for one cause
        text = str(error)
        if "Permission denied" in text:
            raise PolysourceError(
                f"permission denied on {host}: add your user to the 'docker' group or use sudo"
            ) from None
        raise PolysourceError(
            f"cannot reach a Docker daemon at {host} ({how}): {text.splitlines()[0] if text else error!r}; "
            "is Docker running there? (--host or target.docker_host choose another)"
        ) from None
    return client
