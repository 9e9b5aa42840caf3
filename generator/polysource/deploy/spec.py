"""Desired containers: each stack service with its secrets resolved and its config shipped.

Config folders cannot be bind-mounted from the laptop onto a remote Pi, so each becomes a volume
named after its content hash, filled with put_archive. A changed file makes a new volume name,
so the container's definition changes and the plan sees it, as Docker Compose does not.
"""

import dataclasses
import hashlib
import io
import json
import tarfile
from dataclasses import dataclass, field, replace
from typing import Any

from polysource import secrets
from polysource.durations import seconds
from polysource.runtime.engine import LABEL
from polysource.secrets import Secret, SecretValues
from polysource.stack import Stack
from polysource.stack.model import Mount, Service

MARKER = ".polysource-files"


def short_hash(data: Any) -> str:
    text = data if isinstance(data, bytes) else json.dumps(data, sort_keys=True).encode()
    return hashlib.sha256(text).hexdigest()[:16]


@dataclass(frozen=True)
class ConfigVolume:
    name: str
    folder: str  # inside output/
    target: str  # where the service sees it
    files: dict[str, bytes]  # relative to folder
    live: bool = False

    def hashes(self) -> dict[str, str]:
        return {path: short_hash(content) for path, content in sorted(self.files.items())}

    def archive(self) -> bytes:
        """A deterministic tar of the folder: root-owned, world-readable, no timestamps.

        Live folders also carry a marker listing their files, read back to plan the next update.
        """
        files = dict(self.files)
        if self.live:
            files[MARKER] = json.dumps(self.hashes(), sort_keys=True).encode()
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w") as tar:
            folders = sorted({p.rsplit("/", 1)[0] for p in files if "/" in p})
            for folder in folders:
                info = tarfile.TarInfo(folder)
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                tar.addfile(info)
            for path in sorted(files):
                info = tarfile.TarInfo(path)
                info.size = len(files[path])
                info.mode = 0o644
                tar.addfile(info, io.BytesIO(files[path]))
        return buffer.getvalue()


@dataclass
class ContainerSpec:
    service: Service
    project: str
    environment: dict[str, str]
    config_volumes: list[ConfigVolume]
    secret_digest: dict[str, str] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return f"{self.project}-{self.service.name}"

    def volume_name(self, mount: Mount) -> str:
        if mount.volume:
            return f"{self.project}_{mount.volume}"
        return next(v.name for v in self.config_volumes if v.folder == mount.config)

    def config_files(self) -> dict[str, str]:
        """output/ path -> short hash, for naming the file whose change forces a re-create.

        Live folders are left out: they change in place, without a new container.
        """
        return {
            f"{v.folder}/{path}": digest
            for v in self.config_volumes
            if not v.live
            for path, digest in v.hashes().items()
        }

    def settings(self) -> dict[str, Any]:
        """Everything but the image and the config contents, secrets as digests only."""
        s = self.service
        return {
            "command": list(s.command),
            "environment": {
                k: ("secret:" + self.secret_digest[v.var]) if isinstance(v, Secret) else v
                for k, v in s.environment.items()
            },
            "ports": [[p.host, p.container, *([p.address] if p.address else [])] for p in s.ports],
            "mounts": [[m.target, m.volume or m.config, m.read_only] for m in s.mounts],
            "healthcheck": dataclasses.asdict(s.healthcheck) if s.healthcheck else None,
            "mem_limit": s.mem_limit,
            "restart": s.restart,
            "logging": s.log_options,
        }

    def labels(self) -> dict[str, str]:
        return {
            f"{LABEL}.project": self.project,
            f"{LABEL}.service": self.service.name,
            f"{LABEL}.image": self.service.image,
            f"{LABEL}.settings": short_hash(self.settings()),
            f"{LABEL}.config": json.dumps(self.config_files(), sort_keys=True),
        }

    def create_kwargs(self, network: str, api_version: str) -> dict[str, Any]:
        """Arguments for client.containers.create, the same definition compose gets."""
        from docker.types import EndpointConfig, LogConfig
        from docker.types import Mount as DockerMount

        s = self.service
        kwargs: dict[str, Any] = {
            "image": s.image,
            "name": self.name,
            "environment": self.environment,
            "labels": self.labels(),
            "mounts": [
                DockerMount(m.target, self.volume_name(m), type="volume", read_only=m.read_only)
                for m in s.mounts
            ],
            "ports": {f"{p.container}/tcp": (p.address, p.host) if p.address else p.host for p in s.ports},
            "mem_limit": s.mem_limit,
            "restart_policy": {"Name": s.restart},
            "log_config": LogConfig(type=s.log_driver, config=s.log_options),
            "network": network,
            "networking_config": {network: EndpointConfig(api_version, aliases=[s.name])},
            "detach": True,
        }
        if s.command:
            kwargs["command"] = list(s.command)
        if s.healthcheck:
            check = s.healthcheck
            kwargs["healthcheck"] = {
                "test": list(check.test),
                "interval": nanoseconds(check.interval),
                "timeout": nanoseconds(check.timeout),
                "retries": check.retries,
                "start_period": nanoseconds(check.start_period),
            }
        return kwargs


def nanoseconds(duration: str) -> int:
    return int(seconds(duration) * 1_000_000_000)


def desired_containers(stack: Stack, files: dict[str, bytes], values: SecretValues) -> list[ContainerSpec]:
    """One spec per service, in the stack's dependency order."""
    specs = []
    for service in stack.services:
        volumes = []
        for mount in service.mounts:
            if mount.config is None:
                continue
            prefix = f"{mount.config}/"
            content = {p[len(prefix) :]: c for p, c in files.items() if p.startswith(prefix)}
            name = f"{stack.name}_cfg-{mount.config.replace('/', '-')}"
            volume = ConfigVolume(name, mount.config, mount.target, content, mount.live)
            if not mount.live:  # a new name for new content: the container definition changes
                volume = replace(volume, name=f"{name}-{short_hash(volume.hashes())[:8]}")
            volumes.append(volume)
        environment = {k: values[v] if isinstance(v, Secret) else v for k, v in service.environment.items()}
        digest = {secret.var: secrets.digest(secret, values[secret]) for secret in service.secrets}
        specs.append(ContainerSpec(service, stack.name, environment, volumes, digest))
    return specs
