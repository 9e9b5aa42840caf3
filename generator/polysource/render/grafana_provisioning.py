"""Grafana provisioning: the InfluxDB datasource and the file provider for the dashboards."""

from typing import Any

import yaml

from polysource.render.dashboards import DATASOURCE_UID
from polysource.render.header import header
from polysource.stack import INFLUX_PORT, Stack

DASHBOARDS_PATH = "/etc/grafana/dashboards"


def _dump(stack: Stack, document: dict[str, Any]) -> str:
    body = yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=10_000)
    return header(stack.name) + body


def render_datasource(stack: Stack) -> str:
    db = stack.inventory.storage.influxdb
    source: dict[str, Any] = {
        "name": "InfluxDB",
        "type": "influxdb",
        "uid": DATASOURCE_UID,
        "access": "proxy",
        "url": f"http://influxdb:{INFLUX_PORT}",
        "isDefault": True,
        "editable": False,
    }
    # Grafana expands ${VAR} in provisioning files from its own environment.
    if db.version == 1:
        source["user"] = db.read_user
        source["jsonData"] = {"dbName": db.database, "httpMode": "POST", "timeInterval": "10s"}
        source["secureJsonData"] = {"password": db.read_password}
    else:
        source["jsonData"] = {
            "version": "Flux",
            "organization": db.organization,
            "defaultBucket": db.database,
            "timeInterval": "10s",
        }
        source["secureJsonData"] = {"token": db.token}
    return _dump(stack, {"apiVersion": 1, "datasources": [source]})


def render_dashboard_provider(stack: Stack) -> str:
    provider = {
        "name": stack.name,
        "orgId": 1,
        "folder": stack.name,
        "type": "file",
        "disableDeletion": False,
        "updateIntervalSeconds": 30,
        # Provisioned dashboards come from the inventory: UI edits would be lost on re-render.
        "allowUiUpdates": False,
        "options": {"path": DASHBOARDS_PATH},
    }
    return _dump(stack, {"apiVersion": 1, "providers": [provider]})
