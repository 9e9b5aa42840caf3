"""Every file of output/, in memory: nothing touches the disk until all of it rendered."""

import os
from pathlib import Path

from polysource.render.compose import render_compose
from polysource.render.dashboards import render_dashboards
from polysource.render.env_example import render_env_example
from polysource.render.grafana_provisioning import render_dashboard_provider, render_datasource
from polysource.render.influxdb_init import render_retention
from polysource.render.manifest import MANIFEST, render_manifest
from polysource.render.mosquitto import render_mosquitto
from polysource.render.telegraf import ca_file_name, render_telegraf
from polysource.stack import Stack


def render_files(stack: Stack, output: Path) -> dict[str, bytes]:
    """Relative path -> content, manifest included."""
    inv = stack.inventory
    env_file = os.path.relpath(stack.inventory_dir.resolve() / ".env", output.resolve().parent)
    files: dict[str, str | bytes] = {
        "docker-compose.yml": render_compose(stack, env_file),
        ".env.example": render_env_example(stack),
        "telegraf/telegraf.conf": render_telegraf(stack),
        "grafana/provisioning/datasources/influxdb.yaml": render_datasource(stack),
        "grafana/provisioning/dashboards/polysource.yaml": render_dashboard_provider(stack),
    }
    for name, text in render_dashboards(stack).items():
        files[f"grafana/dashboards/{name}"] = text
    if inv.storage.influxdb.version == 1:
        files["influxdb/init/retention.iql"] = render_retention(stack)
    if stack.managed_broker:
        files["mosquitto/mosquitto.conf"] = render_mosquitto(stack)
    for name, broker in inv.brokers.items():
        if broker.ca_file:
            files[f"telegraf/{ca_file_name(name)}"] = (stack.inventory_dir / broker.ca_file).read_bytes()
    encoded = {k: v.encode() if isinstance(v, str) else v for k, v in files.items()}
    encoded[MANIFEST] = render_manifest(stack.name, encoded).encode()
    return dict(sorted(encoded.items()))
