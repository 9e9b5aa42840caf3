"""docker-compose.yml: the same stack model deploy uses, for users who run `docker compose`."""

import posixpath
import shlex
from typing import Any

import yaml

from polysource.render.header import comment_text, header
from polysource.secrets import Secret
from polysource.stack import Stack, paths
from polysource.stack.model import Service

USAGE = (
    "# Run from the repository root, with the secrets in the .env beside the inventory:\n"
    "#   docker compose -p {project} --env-file {env_file} -f {compose_file} up -d\n"
    "# (-p keeps the volume names polysource deploy uses; Compose v1 has no top-level name:)\n"
    "# Compose applies InfluxDB's and Grafana's settings on their first start only; `polysource\n"
    "# deploy` also converges them (database, users, passwords, retention) on every deploy.\n"
)


MADE_USAGE = (
    "# The managed broker's TLS certificate and key are issued by `polysource deploy` (not in the\n"
    "# .env): export them first:\n"
    '#   export {cert}="$(cat {folder}/server.pem)" {key}="$(cat {folder}/server.key)"\n'
)


def env_reference(secret: Secret, made: bool = False) -> str:
    """Compose interpolation that fails loudly when the variable is missing."""
    if made:
        return f"${{{secret.var}:?export {secret.var} as the top of this file shows}}"
    return f"${{{secret.var}:?set {secret.var} in the .env beside the inventory}}"


def _escape(text: str) -> str:
    """Compose would interpolate $VAR itself; the container's shell must see it instead."""
    return text.replace("$", "$$")


def compose_service(service: Service, platform: str, made: tuple[Secret, ...] = ()) -> dict[str, Any]:
    spec: dict[str, Any] = {"image": service.image, "platform": platform}
    if service.command:
        spec["command"] = [_escape(part) for part in service.command]
    spec["restart"] = service.restart
    if service.environment:
        spec["environment"] = {
            key: env_reference(value, value in made) if isinstance(value, Secret) else _escape(value)
            for key, value in service.environment.items()
        }
    if service.ports:
        spec["ports"] = [port.compose for port in service.ports]
    if service.mounts:
        spec["volumes"] = [
            f"{mount.volume or './' + str(mount.config)}:{mount.target}" + (":ro" if mount.read_only else "")
            for mount in service.mounts
        ]
    if service.depends_on:
        spec["depends_on"] = {
            name: {"condition": condition} for name, condition in service.depends_on.items()
        }
    if service.healthcheck:
        check = service.healthcheck
        spec["healthcheck"] = {
            "test": [_escape(part) for part in check.test],
            "interval": check.interval,
            "timeout": check.timeout,
            "retries": check.retries,
            "start_period": check.start_period,
        }
    spec["mem_limit"] = service.mem_limit
    spec["logging"] = {"driver": service.log_driver, "options": service.log_options}
    return spec


def render_compose(stack: Stack, env_file: str, compose_file: str) -> str:
    """env_file, compose_file: relative to the repository root, where the usage line runs."""
    platform = stack.docker.platform
    document = {
        "services": {s.name: compose_service(s, platform, stack.made_secrets) for s in stack.services},
        "volumes": {name: {} for name in stack.volumes},
    }
    body = yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=10_000)
    usage = USAGE.format(
        project=stack.name,
        env_file=comment_text(shlex.quote(env_file)),
        compose_file=comment_text(shlex.quote(compose_file)),
    )
    if stack.made_secrets:
        cert, key = stack.made_secrets
        folder = posixpath.join(posixpath.dirname(env_file), paths.pki_folder(stack.name))
        usage += MADE_USAGE.format(cert=cert.var, key=key.var, folder=comment_text(shlex.quote(folder)))
    return header(stack.name) + usage + body
