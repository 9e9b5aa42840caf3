"""Every file of output/, in memory: nothing touches the disk until all of it rendered."""

import os
from pathlib import Path

from polysource.render.alerting import ALERTING_FILE, render_alerting
from polysource.render.compose import render_compose
from polysource.render.custom_dashboards import render_custom_dashboards
from polysource.render.dashboards import render_dashboards
from polysource.render.devices import render_devices
from polysource.render.env_example import render_env_example
from polysource.render.fingerprint import inputs_digest
from polysource.render.grafana_provisioning import (
    DASHBOARD_PROVIDER_FILE,
    DATASOURCES_FILE,
    render_dashboard_provider,
    render_datasource,
)
from polysource.render.manifest import render_manifest
from polysource.render.mosquitto import render_acl, render_mosquitto
from polysource.render.telegraf import render_telegraf
from polysource.render.timers import render_backup_timer, render_watch_timer
from polysource.stack import Stack, paths
from polysource.workspace import repository_root


def render_files(stack: Stack, output: Path) -> dict[str, bytes]:
    """Relative path -> content, manifest included."""
    root = repository_root(output.resolve())
    env_file = os.path.relpath(stack.inventory_dir.resolve() / ".env", root)
    compose_file = os.path.relpath(output.resolve() / paths.COMPOSE_FILE, root)
    files: dict[str, str | bytes] = {
        paths.COMPOSE_FILE: render_compose(stack, env_file, compose_file),
        paths.ENV_EXAMPLE: render_env_example(stack),
        paths.TELEGRAF_CONF: render_telegraf(stack),
        DATASOURCES_FILE: render_datasource(stack),
        DASHBOARD_PROVIDER_FILE: render_dashboard_provider(stack),
    }
    generated = render_dashboards(stack)
    taken = {name.removesuffix(".json").casefold() for name in generated}
    for name, text in (generated | render_custom_dashboards(stack, taken)).items():
        files[f"{paths.GRAFANA_DASHBOARDS_DIR}/{name}"] = text
    files |= render_backup_timer(stack, output)
    files |= render_watch_timer(stack, output)
    alerting = render_alerting(stack)
    if alerting is not None:
        files[ALERTING_FILE] = alerting
    if stack.managed_broker:
        files[paths.MOSQUITTO_CONF] = render_mosquitto(stack)
        files[paths.MOSQUITTO_ACL] = render_acl(stack)
        if stack.managed_broker and stack.managed_broker.ca:  # public: its healthcheck trusts it
            files[paths.MOSQUITTO_CA] = stack.managed_broker.ca.pem
    files |= render_devices(stack)
    for broker in stack.brokers.values():
        if broker.ca:
            files[broker.ca.output_path] = broker.ca.pem
    encoded = {k: v.encode() if isinstance(v, str) else v for k, v in files.items()}
    inputs = inputs_digest(stack, output, root)
    encoded[paths.MANIFEST] = render_manifest(stack.name, encoded, inputs).encode()
    return dict(sorted(encoded.items()))
